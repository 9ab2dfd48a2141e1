//! `rcodex`: a coding agent in Rust that talks to the model the way upstream Codex CLI does.

mod exec;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "rcodex", version, about = "A coding agent in Rust, aligned with Codex CLI", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run non-interactively: one turn for a prompt, then exit.
    Exec(ExecArgs),
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ExecArgs {
    #[command(subcommand)]
    action: Option<ExecAction>,
    /// The prompt; `-` or none reads it from stdin.
    prompt: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Subcommand)]
enum ExecAction {
    /// Continue a saved session with a new prompt.
    Resume(ResumeArgs),
}

#[derive(Args)]
pub struct ResumeArgs {
    /// The session's id (its thread id); or --last.
    session_id: Option<String>,
    /// The prompt; `-` or none reads it from stdin.
    prompt: Option<String>,
    /// Resume the most recent session (of this directory, unless --all).
    #[arg(long)]
    last: bool,
    /// With --last: consider sessions of every directory.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    common: CommonArgs,
}

/// The options `exec` and `exec resume` share.
#[derive(Args, Clone, Default)]
pub struct CommonArgs {
    /// Print events as JSON lines on stdout.
    #[arg(long)]
    pub json: bool,
    /// The model.
    #[arg(short, long, value_name = "MODEL")]
    pub model: Option<String>,
    /// The sandbox for model-run commands.
    #[arg(short, long, value_name = "MODE", value_parser = ["read-only", "workspace-write", "danger-full-access"])]
    pub sandbox: Option<String>,
    /// Override a configuration value: `key=value`, the value parsed as TOML when it can be.
    #[arg(short = 'c', long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// A configuration profile: CODEX_HOME/<NAME>.config.toml, or [profiles.<NAME>] in config.toml.
    #[arg(short, long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Work in this directory.
    #[arg(short = 'C', long = "cd", value_name = "DIR")]
    pub cd: Option<PathBuf>,
    /// Run outside a git repository too.
    #[arg(long)]
    pub skip_git_repo_check: bool,
    /// Save no session file.
    #[arg(long)]
    pub ephemeral: bool,
    /// Write the last message of the agent to this file.
    #[arg(short = 'o', long = "output-last-message", value_name = "FILE")]
    pub output_last_message: Option<PathBuf>,
    /// A JSON schema the final answer must follow.
    #[arg(long, value_name = "FILE")]
    pub output_schema: Option<PathBuf>,
    /// Images to attach to the prompt.
    #[arg(short, long = "image", value_name = "FILE", num_args = 1..)]
    pub image: Vec<PathBuf>,
}

fn main() -> ExitCode {
    // The sandbox launcher runs before anything else: it must be single-threaded when it sets up the namespaces.
    let mut args = std::env::args_os().skip(1).peekable();
    if args.next_if(|arg| arg == rcodex_sandbox::LAUNCHER_SUBCOMMAND).is_some() {
        rcodex_sandbox::run_launcher(args);
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Exec(args) => match args.action {
            Some(ExecAction::Resume(resume)) => exec::run(
                resume.prompt.or(if resume.last { resume.session_id.clone() } else { None }),
                Some(exec::Resume { id: if resume.last { None } else { resume.session_id }, all: resume.all }),
                resume.common,
            ),
            None => exec::run(args.prompt, None, args.common),
        },
    }
}
