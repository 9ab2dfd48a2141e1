//! `parity`: record, replay and diff what coding agents send to the OpenAI Responses API.

mod serve;
mod style;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "parity", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a fake Responses API that answers from a script, a real endpoint, or a recording, and captures every
    /// request.
    Serve(serve::ServeArgs),
}

/// Exit status for input the command could not use (an unreadable file, an invalid script, a busy port).
pub const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            anstream::eprintln!(
                "{}parity: error:{} {error:#}",
                style::ERROR.render(),
                style::ERROR.render_reset()
            );
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
