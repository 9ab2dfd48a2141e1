//! `parity`: record, replay and diff what coding agents send to the OpenAI Responses API.

mod check;
mod diff;
mod junit;
mod normalize;
mod pack;
mod record;
mod review;
mod serve;
mod style;
mod sweep;
mod timeline;

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
    /// Compare two recordings request by request, volatile values normalized, and report schema and prompt
    /// divergences. Exits 0 when nothing diverges, 1 when something does, 2 on bad input.
    Diff(diff::DiffArgs),
    /// Run an agent on a scenario (or every scenario) against an in-process scripted server, in an isolated home and
    /// workspace, and keep its captures, output and exit status.
    Record(record::RecordArgs),
    /// Extract rcodex's prompt pack (upstream's instructions, context sections, tools and model catalog, with
    /// placeholders for a run's own values) from a reference recording of upstream Codex.
    Pack(pack::PackArgs),
    /// Record every scenario of a baseline with an agent (rcodex by default) and diff each against the baseline:
    /// a line per scenario and a total. Exits 0 when all are clean, 1 when something diverges, 2 on bad input.
    Check(Box<check::CheckArgs>),
    /// Merge the JUnit reports of several `parity check --shard K/N --format junit` runs into one.
    MergeJunit(junit::MergeJunitArgs),
    /// A recording as a time line (requests, stream events, holds, frontend actions, the agent's notifications), and
    /// where each steer landed; two recordings side by side.
    Timeline(timeline::TimelineArgs),
    /// Run one steer scenario once per hold point, for each agent, and print where the steer landed each time.
    Sweep(sweep::SweepArgs),
    /// Review a re-recorded suite against its baseline, scenario by scenario: accept (replace the baseline's
    /// recording), reject, or skip each that differs. Exits 0 when nothing is left undecided, 1 when something is.
    Review(review::ReviewArgs),
    /// Write the normalized view of each recording beside its captures (normalized/), so that a git diff of a
    /// re-recorded baseline shows only real changes.
    Normalize(normalize::NormalizeArgs),
}

/// Exit status for input the command could not use (an unreadable file, an invalid script, a busy port).
pub const EXIT_BAD_INPUT: u8 = 2;

/// An error and its causes in one line, skipping causes its message already states.
fn describe(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Record(args) => record::run(args),
        Command::Pack(args) => pack::run(args),
        Command::Check(args) => check::run(*args),
        Command::MergeJunit(args) => junit::run(args),
        Command::Timeline(args) => timeline::run(args),
        Command::Sweep(args) => sweep::run(args),
        Command::Review(args) => review::run(args),
        Command::Normalize(args) => normalize::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            anstream::eprintln!(
                "{}parity: error:{} {}",
                style::ERROR.render(),
                style::ERROR.render_reset(),
                describe(&error)
            );
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
