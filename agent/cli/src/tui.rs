//! `rcodex [PROMPT]`, `rcodex resume` and `rcodex fork`: the interactive interface (`rcodex_tui`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use rcodex_core::config::{self, Config, Overrides, SandboxMode};

use crate::output::{print_error, print_warning};

/// The interface's options, as upstream's top-level flags.
#[derive(Args, Clone, Default)]
pub struct InteractiveArgs {
    /// A first prompt.
    pub prompt: Option<String>,
    /// The model.
    #[arg(short, long, value_name = "MODEL")]
    pub model: Option<String>,
    /// The sandbox for model-run commands (workspace-write unless configured).
    #[arg(short, long, value_name = "MODE", value_parser = ["read-only", "workspace-write", "danger-full-access"])]
    pub sandbox: Option<String>,
    /// When to ask before running a command.
    #[arg(short = 'a', long = "ask-for-approval", value_name = "POLICY", value_parser = ["untrusted", "on-failure", "on-request", "never"])]
    pub approval: Option<String>,
    /// A configuration profile.
    #[arg(short, long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Work in this directory.
    #[arg(short = 'C', long = "cd", value_name = "DIR")]
    pub cd: Option<PathBuf>,
    /// Images to attach to the first prompt.
    #[arg(short, long = "image", value_name = "FILE", num_args = 1..)]
    pub image: Vec<PathBuf>,
    /// More writable directories (workspace-write).
    #[arg(long = "add-dir", value_name = "DIR")]
    pub add_dir: Vec<PathBuf>,
    /// Draw inline, not in the terminal's alternate screen.
    #[arg(long)]
    pub no_alt_screen: bool,
    /// Upstream runs its interface and app server in one process with it; rcodex always does (taken, ignored).
    #[arg(long, hide = true)]
    pub no_daemon: bool,
}

#[derive(Args)]
pub struct ResumeArgs {
    /// The session's id; or --last.
    session_id: Option<String>,
    /// Override a configuration value (`key=value`).
    #[arg(short = 'c', long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    #[command(flatten)]
    pub options: InteractiveArgs,
    /// Resume the most recent session of this directory.
    #[arg(long)]
    last: bool,
    /// With --last: of any directory.
    #[arg(long)]
    all: bool,
}

impl InteractiveArgs {
    /// These options (given before `resume`) under those given after it: a value after wins, lists are joined.
    pub fn under(self, later: InteractiveArgs) -> InteractiveArgs {
        let join = |mut a: Vec<PathBuf>, b: Vec<PathBuf>| {
            a.extend(b);
            a
        };
        InteractiveArgs {
            prompt: later.prompt.or(self.prompt),
            model: later.model.or(self.model),
            sandbox: later.sandbox.or(self.sandbox),
            approval: later.approval.or(self.approval),
            profile: later.profile.or(self.profile),
            cd: later.cd.or(self.cd),
            image: join(self.image, later.image),
            add_dir: join(self.add_dir, later.add_dir),
            no_alt_screen: self.no_alt_screen || later.no_alt_screen,
            no_daemon: self.no_daemon || later.no_daemon,
        }
    }
}

/// `rcodex resume` continues the saved session, `rcodex fork` starts a new thread from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    Resume,
    Fork,
}

pub fn run(config_overrides: Vec<String>, mut args: InteractiveArgs, resume: Option<(ResumeArgs, Take)>) -> ExitCode {
    // `resume --last PROMPT`: the word after --last is the prompt.
    if let Some((resume, _)) = &resume
        && resume.last
        && args.prompt.is_none()
    {
        args.prompt = resume.session_id.clone();
    }
    match prepare(config_overrides, &args, resume) {
        Ok((config, origin)) => {
            let sandbox_launcher = match std::env::current_exe() {
                Ok(path) => path,
                Err(e) => {
                    print_error(&format!("could not find rcodex's own executable, which sandboxes commands: {e}"));
                    return ExitCode::from(1);
                }
            };
            rcodex_tui::run(rcodex_tui::Options {
                config,
                origin,
                prompt: args.prompt,
                images: args.image,
                alt_screen: !args.no_alt_screen,
                sandbox_launcher,
            })
        }
        Err(message) => {
            print_error(&message);
            ExitCode::from(1)
        }
    }
}

fn prepare(
    config_overrides: Vec<String>,
    args: &InteractiveArgs,
    resume: Option<(ResumeArgs, Take)>,
) -> Result<(Config, rcodex_tui::Origin), String> {
    let (codex_home, cwd) = crate::home_and_cwd(args.cd.as_deref())?;
    let overrides = Overrides {
        codex_home: Some(codex_home.clone()),
        cwd: Some(cwd.clone()),
        model: args.model.clone(),
        sandbox_mode: args.sandbox.as_deref().and_then(|mode| mode.parse().ok()),
        approval_policy: args.approval.as_deref().and_then(|policy| {
            use config::ApprovalPolicy::*;
            [Untrusted, OnFailure, OnRequest, Never].into_iter().find(|p| p.as_str() == policy)
        }),
        profile: args.profile.clone(),
        config: config_overrides,
        add_dirs: args.add_dir.clone(),
        thread_source: None,
        interactive: true,
    };
    let mut config = Config::load(&overrides).map_err(|e| match e {
        config::ConfigError::Unsupported(message) => message,
        e => format!("Error loading config.toml: {e}"),
    })?;
    // As upstream's interface: workspace-write unless a sandbox is configured.
    if !config.sandbox_mode_configured {
        config.sandbox_mode = SandboxMode::WorkspaceWrite;
    }
    let Some((resume, take)) = resume else { return Ok((config, rcodex_tui::Origin::default())) };
    let path = match resume {
        ResumeArgs { session_id: Some(id), last: false, .. } => {
            rcodex_core::rollout::find_by_id(&codex_home, &id).map_err(|e| e.to_string())?.path
        }
        ResumeArgs { all, .. } => {
            let scope = if all { None } else { Some(cwd.as_path()) };
            let found = rcodex_core::rollout::find_last(&codex_home, scope);
            if found.path.is_none() {
                let doing = if take == Take::Fork { "fork" } else { "resume" };
                print_warning(&format!("no saved session to {doing}: starting a new session"));
            }
            found.path
        }
    };
    let fork = (take == Take::Fork && path.is_some()).then_some(rcodex_core::session::Fork::Cold);
    Ok((config, rcodex_tui::Origin { resume: path, fork }))
}
