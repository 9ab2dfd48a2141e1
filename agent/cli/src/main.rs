//! `rcodex`: a coding agent in Rust that talks to the model the way upstream Codex CLI does.

mod exec;
mod login;
mod mcp;
mod output;
mod tui;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "rcodex", version, about = "A coding agent in Rust, aligned with Codex CLI", long_about = None)]
struct Cli {
    /// Override a configuration value (`key=value`) for the subcommand, as `-c` after it does.
    #[arg(short = 'c', long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    interactive: tui::InteractiveArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run non-interactively: one turn for a prompt, then exit.
    Exec(Box<ExecArgs>),
    /// Serve threads over JSON-RPC on stdin and stdout, as Codex's app server does for SDKs and IDEs.
    AppServer(AppServerArgs),
    /// Continue a saved session in the interactive interface.
    Resume(Box<tui::ResumeArgs>),
    /// Start a new thread from a saved session (its conversation so far) in the interactive interface.
    Fork(Box<tui::ResumeArgs>),
    /// Run a code review non-interactively (as `exec review`).
    Review(Box<ReviewArgs>),
    /// Manage the MCP servers of config.toml (`list`, `get`, `add`, `remove`).
    Mcp(mcp::McpArgs),
    /// Keep an API key in CODEX_HOME/auth.json (`--with-api-key`, read from stdin), or show what is kept (`status`).
    Login(login::LoginArgs),
    /// Remove the credentials kept in CODEX_HOME/auth.json.
    Logout,
}

#[derive(Args)]
pub struct AppServerArgs {
    /// Where to listen: only `stdio://` (JSON-RPC lines on stdin and stdout).
    #[arg(long, value_name = "URL", default_value = rcodex_app_server::STDIO)]
    listen: String,
    /// Turn a feature on (`features.FEATURE=true`).
    #[arg(long, value_name = "FEATURE")]
    enable: Vec<String>,
    /// Override a configuration value: `key=value`, the value parsed as TOML when it can be.
    #[arg(short = 'c', long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
}

#[derive(Args)]
#[command(subcommand_negates_reqs = true)]
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
    /// Run a code review against the current repository.
    Review(ReviewArgs),
}

/// `review` and `exec review`: one target, or custom instructions.
#[derive(Args)]
pub struct ReviewArgs {
    /// Custom review instructions; `-` reads them from stdin.
    #[arg(conflicts_with_all = ["uncommitted", "base", "commit"])]
    prompt: Option<String>,
    /// Review staged, unstaged, and untracked changes.
    #[arg(long, conflicts_with_all = ["base", "commit"])]
    uncommitted: bool,
    /// Review changes against the given base branch.
    #[arg(long, value_name = "BRANCH", conflicts_with = "commit")]
    base: Option<String>,
    /// Review the changes introduced by a commit.
    #[arg(long, value_name = "SHA")]
    commit: Option<String>,
    /// The commit's title, shown to the reviewer beside its hash.
    #[arg(long, value_name = "TITLE", requires = "commit")]
    title: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

impl ReviewArgs {
    /// The target, and whether it still needs instructions from stdin (no target and no prompt, or `-`).
    fn target(&self) -> Option<rcodex_core::review::ReviewTarget> {
        use rcodex_core::review::ReviewTarget;
        if self.uncommitted {
            Some(ReviewTarget::Uncommitted)
        } else if let Some(branch) = &self.base {
            Some(ReviewTarget::BaseBranch { branch: branch.clone() })
        } else if let Some(sha) = &self.commit {
            Some(ReviewTarget::Commit { sha: sha.clone(), title: self.title.clone() })
        } else {
            match self.prompt.as_deref() {
                Some(p) if p != "-" => Some(ReviewTarget::Custom { instructions: p.to_string() }),
                _ => None,
            }
        }
    }
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
    #[arg(long, alias = "experimental-json")]
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

    /// Run the hooks of CODEX_HOME/hooks.json (rcodex keeps no hook trust: without this they do not run).
    #[arg(long)]
    pub dangerously_bypass_hook_trust: bool,
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
    /// More directories commands may write in (workspace-write), besides the working directory.
    #[arg(long = "add-dir", value_name = "DIR")]
    pub add_dir: Vec<PathBuf>,
    /// How a new thread is classified (`user` unless told): sent in the turn metadata, saved in the session.
    #[arg(long, value_name = "SOURCE")]
    pub thread_source: Option<String>,
    /// Read and checked as upstream checks it; it asks the OpenAI provider only, so it changes nothing here.
    #[arg(long, value_name = "PROGRAM", value_parser = ["standard", "daybreak_blue", "daybreak_red"])]
    pub cyber_access_program: Option<String>,
}

fn join<T>(mut first: Vec<T>, then: Vec<T>) -> Vec<T> {
    first.extend(then);
    first
}

impl CommonArgs {
    /// The options given before `resume` (`exec [OPTIONS] resume ID`, as the TypeScript SDK sends them) under
    /// those given after it: a value after `resume` wins, lists are joined, flags add up.
    pub fn under(self, later: CommonArgs) -> CommonArgs {
        CommonArgs {
            json: self.json || later.json,
            model: later.model.or(self.model),
            sandbox: later.sandbox.or(self.sandbox),
            config: join(self.config, later.config),
            profile: later.profile.or(self.profile),
            cd: later.cd.or(self.cd),
            skip_git_repo_check: self.skip_git_repo_check || later.skip_git_repo_check,
            dangerously_bypass_hook_trust: self.dangerously_bypass_hook_trust || later.dangerously_bypass_hook_trust,
            ephemeral: self.ephemeral || later.ephemeral,
            output_last_message: later.output_last_message.or(self.output_last_message),
            output_schema: later.output_schema.or(self.output_schema),
            image: join(self.image, later.image),
            add_dir: join(self.add_dir, later.add_dir),
            thread_source: later.thread_source.or(self.thread_source),
            cyber_access_program: later.cyber_access_program.or(self.cyber_access_program),
        }
    }
}

fn main() -> ExitCode {
    // The sandbox launcher runs before anything else: it must be single-threaded when it sets up the namespaces.
    let mut args = std::env::args_os().skip(1).peekable();
    if args.next_if(|arg| arg == rcodex_sandbox::LAUNCHER_SUBCOMMAND).is_some() {
        rcodex_sandbox::run_launcher(args);
    }
    let cli = Cli::parse();
    let Some(command) = cli.command else { return tui::run(cli.config, cli.interactive, None) };
    match command {
        Command::Resume(mut resume) => {
            let options = cli.interactive.under(std::mem::take(&mut resume.options));
            tui::run(join(cli.config, std::mem::take(&mut resume.config)), options, Some((*resume, tui::Take::Resume)))
        }
        Command::Fork(mut fork) => {
            let options = cli.interactive.under(std::mem::take(&mut fork.options));
            tui::run(join(cli.config, std::mem::take(&mut fork.config)), options, Some((*fork, tui::Take::Fork)))
        }
        Command::Review(mut review) => {
            review.common.config = join(cli.config, std::mem::take(&mut review.common.config));
            let target = review.target();
            exec::review(target, review.common)
        }
        Command::Mcp(args) => mcp::run(args),
        Command::Login(args) => login::login(args),
        Command::Logout => login::logout(),
        Command::AppServer(args) => app_server(join(cli.config, args.config), args.listen, args.enable),
        Command::Exec(mut args) => {
            // `rcodex -c k=v exec ...`: the overrides before the subcommand come first.
            args.common.config = join(cli.config, std::mem::take(&mut args.common.config));
            match args.action {
                Some(ExecAction::Resume(resume)) => exec::run(
                    // A prompt given before `resume` (`exec PROMPT resume ID`) counts when none follows it.
                    resume.prompt.or(if resume.last { resume.session_id.clone() } else { None }).or(args.prompt),
                    Some(exec::Resume { id: if resume.last { None } else { resume.session_id }, all: resume.all }),
                    args.common.under(resume.common),
                ),
                Some(ExecAction::Review(review)) => {
                    let target = review.target();
                    exec::review(target, args.common.under(review.common))
                }
                None => exec::run(args.prompt, None, args.common),
            }
        }
    }
}

/// `rcodex app-server`: JSON-RPC on stdin and stdout until the client closes stdin.
fn app_server(config: Vec<String>, listen: String, enable: Vec<String>) -> ExitCode {
    if listen != rcodex_app_server::STDIO {
        output::print_error(&format!("--listen {listen}: rcodex app-server listens on stdio:// only"));
        return ExitCode::from(2);
    }
    let codex_home = match rcodex_core::config::codex_home() {
        Ok(home) => home,
        Err(e) => {
            output::print_error(&e.to_string());
            return ExitCode::from(1);
        }
    };
    // SAFETY: no other thread exists yet; the runtime starts after this.
    if let Err(e) = unsafe { rcodex_core::config::load_dotenv(&codex_home) } {
        output::print_error(&e.to_string());
        return ExitCode::from(1);
    }
    let sandbox_launcher = match std::env::current_exe() {
        Ok(path) => path,
        Err(e) => {
            output::print_error(&format!("could not find rcodex's own executable, which sandboxes commands: {e}"));
            return ExitCode::from(1);
        }
    };
    rcodex_app_server::run(rcodex_app_server::Options { config, enable, sandbox_launcher, codex_home })
}

/// CODEX_HOME (its `.env` loaded into the environment) and the working directory (`-C DIR`, or the current one):
/// what every frontend resolves before it reads the configuration.
fn home_and_cwd(cd: Option<&std::path::Path>) -> Result<(PathBuf, PathBuf), String> {
    let codex_home = rcodex_core::config::codex_home().map_err(|e| e.to_string())?;
    // SAFETY: no other thread exists yet; the runtime starts after this.
    unsafe { rcodex_core::config::load_dotenv(&codex_home) }.map_err(|e| e.to_string())?;
    let cwd = match cd {
        Some(dir) => std::fs::canonicalize(dir).map_err(|e| format!("-C {}: {e}", dir.display()))?,
        None => std::env::current_dir().map_err(|e| e.to_string())?,
    };
    Ok((codex_home, cwd))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(args: &[&str]) -> ExecArgs {
        let cli =
            Cli::try_parse_from(["rcodex", "exec"].iter().chain(args)).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let Some(Command::Exec(exec)) = cli.command else { panic!("not exec: {args:?}") };
        *exec
    }

    #[test]
    fn review_takes_one_target_or_instructions_as_upstream_does() {
        use rcodex_core::review::ReviewTarget;
        let review = |args: &[&str]| {
            let Some(ExecAction::Review(review)) = exec(args).action else { panic!("review: {args:?}") };
            review
        };
        let r = review(&["--json", "review", "--skip-git-repo-check", "--uncommitted"]);
        assert_eq!(r.target(), Some(ReviewTarget::Uncommitted));
        assert!(r.common.skip_git_repo_check);
        let r = review(&["review", "--commit", "abc", "--title", "Fix"]);
        assert_eq!(r.target(), Some(ReviewTarget::Commit { sha: "abc".into(), title: Some("Fix".into()) }));
        assert_eq!(
            review(&["review", "--base", "main"]).target(),
            Some(ReviewTarget::BaseBranch { branch: "main".into() })
        );
        assert_eq!(
            review(&["review", "look at errors"]).target(),
            Some(ReviewTarget::Custom { instructions: "look at errors".into() })
        );
        assert_eq!(review(&["review", "-"]).target(), None, "instructions from stdin");
        for refused in [
            &["exec", "review", "--uncommitted", "and instructions"][..],
            &["exec", "review", "--uncommitted", "--commit", "abc"],
            &["exec", "review", "--title", "t"],
            &["review", "--base", "main", "--commit", "abc"],
        ] {
            assert!(Cli::try_parse_from(["rcodex"].iter().chain(refused)).is_err(), "{refused:?}");
        }
        let cli = Cli::try_parse_from(["rcodex", "-c", "a=1", "review", "--uncommitted"]).unwrap();
        let Some(Command::Review(top)) = cli.command else { panic!("rcodex review") };
        assert_eq!(top.target(), Some(ReviewTarget::Uncommitted));
    }

    #[test]
    fn experimental_json_is_an_alias_of_json() {
        assert!(exec(&["--experimental-json", "hi"]).common.json);
        let Some(ExecAction::Resume(resume)) = exec(&["resume", "--experimental-json", "ID"]).action else {
            panic!("resume")
        };
        assert!(resume.common.json);
    }

    #[test]
    fn options_before_resume_are_taken_as_the_sdk_sends_them() {
        let args = exec(&[
            "--experimental-json",
            "--model",
            "gpt-5.5",
            "--sandbox",
            "workspace-write",
            "--skip-git-repo-check",
            "-c",
            "a=1",
            "--add-dir",
            "/one",
            "resume",
            "01a2-id",
            "--image",
            "x.png",
            "-c",
            "b=2",
            "--",
            "the prompt",
        ]);
        let Some(ExecAction::Resume(resume)) = args.action else { panic!("resume") };
        assert_eq!((resume.session_id.as_deref(), resume.prompt.as_deref()), (Some("01a2-id"), Some("the prompt")));
        let common = args.common.under(resume.common);
        assert!(common.json && common.skip_git_repo_check);
        assert_eq!((common.model.as_deref(), common.sandbox.as_deref()), (Some("gpt-5.5"), Some("workspace-write")));
        assert_eq!(common.config, ["a=1", "b=2"]);
        assert_eq!(common.image, [PathBuf::from("x.png")]);
        assert_eq!(common.add_dir, [PathBuf::from("/one")]);
    }

    #[test]
    fn a_value_after_resume_wins_over_one_before() {
        let args = exec(&["-m", "before", "resume", "--last", "-m", "after"]);
        let Some(ExecAction::Resume(resume)) = args.action else { panic!("resume") };
        assert_eq!(args.common.under(resume.common).model.as_deref(), Some("after"));
    }

    #[test]
    fn thread_source_add_dir_and_cyber_access_program_are_accepted() {
        let args = exec(&[
            "--thread-source",
            "sdk",
            "--cyber-access-program",
            "standard",
            "--add-dir",
            "a",
            "--add-dir",
            "b",
            "hi",
        ]);
        assert_eq!(args.common.thread_source.as_deref(), Some("sdk"));
        assert_eq!(args.common.cyber_access_program.as_deref(), Some("standard"));
        assert_eq!(args.common.add_dir, [PathBuf::from("a"), PathBuf::from("b")]);
        // As upstream: only the programs it knows.
        assert!(Cli::try_parse_from(["rcodex", "exec", "--cyber-access-program", "bogus", "hi"]).is_err());
    }

    #[test]
    fn the_interactive_interface_takes_a_prompt_resume_and_upstream_s_flags() {
        let cli = Cli::try_parse_from(["rcodex", "--no-daemon"]).unwrap();
        assert!(cli.command.is_none() && cli.interactive.no_daemon && cli.interactive.prompt.is_none());
        let cli = Cli::try_parse_from(["rcodex", "-m", "gpt-5.5", "--no-alt-screen", "fix the bug"]).unwrap();
        assert_eq!(cli.interactive.prompt.as_deref(), Some("fix the bug"));
        assert!(cli.interactive.no_alt_screen);
        let cli = Cli::try_parse_from(["rcodex", "-m", "before", "resume", "--last", "--no-daemon", "-s", "read-only"])
            .unwrap();
        let Some(Command::Resume(resume)) = cli.command else { panic!("resume") };
        assert!(resume.options.no_daemon);
        let options = cli.interactive.under(resume.options);
        assert_eq!((options.model.as_deref(), options.sandbox.as_deref()), (Some("before"), Some("read-only")));
        assert!(Cli::try_parse_from(["rcodex", "-a", "sometimes"]).is_err(), "upstream's approval policies only");
    }
}
