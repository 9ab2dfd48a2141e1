//! `rcodex exec`: one turn, non-interactively.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use rcodex_core::config::{self, Config, Overrides};
use rcodex_core::events::{EventSink, UserInput};
use rcodex_core::review::ReviewTarget;
use rcodex_core::session::SessionOptions;
use rcodex_core::thread::ThreadHandle;

use crate::CommonArgs;
use crate::output::{Human, print_error, print_warning};

/// Which saved session to continue.
pub struct Resume {
    /// By id; `None` means the most recent.
    pub id: Option<String>,
    /// With the most recent: of any directory, not only this one.
    pub all: bool,
}

/// Exit status of an interrupted turn, as shells report SIGINT.
const EXIT_INTERRUPTED: u8 = 130;

pub fn run(prompt: Option<String>, resume: Option<Resume>, args: CommonArgs) -> ExitCode {
    match prepare(prompt, resume, &args) {
        Ok(prepared) => execute(prepared, &args),
        Err(message) => {
            print_error(&message);
            ExitCode::from(1)
        }
    }
}

struct Prepared {
    config: Config,
    prompt: String,
    images: Vec<PathBuf>,
    resume: Option<PathBuf>,
    output_schema: Option<serde_json::Value>,
}

/// Everything that can fail before the session starts, each failure in words that name what is wrong.
fn prepare(prompt: Option<String>, resume: Option<Resume>, args: &CommonArgs) -> Result<Prepared, String> {
    let config = load_config(args)?;
    let (codex_home, cwd) = (config.codex_home.clone(), config.cwd.clone());
    let prompt = read_prompt(prompt)?;
    let images = args.image.clone();
    let output_schema = read_output_schema(args)?;
    let resume = match resume {
        None => None,
        Some(Resume { id: Some(id), .. }) => {
            let found = rcodex_core::rollout::find_by_id(&codex_home, &id).map_err(|e| e.to_string())?;
            warn_skipped(&found);
            found.path
        }
        Some(Resume { id: None, all }) => {
            let scope = if all { None } else { Some(cwd.as_path()) };
            let found = rcodex_core::rollout::find_last(&codex_home, scope);
            warn_skipped(&found);
            if found.path.is_none() {
                // As upstream: with nothing to resume, `resume --last` starts a new session.
                let place = scope.map(|c| format!(" in {}", c.display())).unwrap_or_default();
                print_warning(&format!("no saved session to resume{place}: starting a new session"));
            }
            found.path
        }
    };
    Ok(Prepared { config, prompt, images, resume, output_schema })
}

/// `--output-schema`, read and parsed.
fn read_output_schema(args: &CommonArgs) -> Result<Option<serde_json::Value>, String> {
    let Some(path) = &args.output_schema else { return Ok(None) };
    let text = std::fs::read_to_string(path).map_err(|e| format!("--output-schema {}: {e}", path.display()))?;
    serde_json::from_str(&text).map(Some).map_err(|e| format!("--output-schema {}: not JSON: {e}", path.display()))
}

/// The configuration of an exec run, with its checks: the working directory must be in a git repository unless
/// told otherwise.
fn load_config(args: &CommonArgs) -> Result<Config, String> {
    let (codex_home, cwd) = crate::home_and_cwd(args.cd.as_deref())?;
    let overrides = Overrides {
        codex_home: Some(codex_home.clone()),
        cwd: Some(cwd.clone()),
        model: args.model.clone(),
        sandbox_mode: args.sandbox.as_deref().and_then(|mode| mode.parse().ok()),
        approval_policy: None,
        profile: args.profile.clone(),
        config: args.config.clone(),
        add_dirs: args.add_dir.clone(),
        thread_source: args.thread_source.clone(),
        interactive: false,
    };
    let mut config = Config::load(&overrides).map_err(|e| match e {
        config::ConfigError::Unsupported(message) => message,
        config::ConfigError::Rules(e) => e.to_string(),
        e => format!("Error loading config.toml: {e}"),
    })?;
    if args.dangerously_bypass_hook_trust {
        config.bypass_hook_trust = true;
        if let Some(warning) = rcodex_core::hooks::bypass_warning() {
            config.warn_at_startup(warning);
        }
    }
    if !args.skip_git_repo_check && !inside_git_repository(&cwd) {
        return Err("Not inside a trusted directory and --skip-git-repo-check was not specified.".into());
    }
    Ok(config)
}

/// `exec review` (and `review`): the review of `target` (of the instructions read from stdin when there is none)
/// as one turn of a new thread, its events printed as `exec` prints a turn's.
pub fn review(target: Option<ReviewTarget>, args: CommonArgs) -> ExitCode {
    let prepared = load_config(&args).and_then(|config| {
        let target = match target {
            Some(target) => target,
            None => ReviewTarget::Custom { instructions: read_prompt(None)? },
        };
        Ok((config, target))
    });
    let (config, target) = match prepared {
        Ok(prepared) => prepared,
        Err(message) => {
            print_error(&message);
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            print_error(&format!("could not start the runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let human = Arc::new(Human::new(&config, ""));
        let events = if args.json {
            EventSink::new(|event| {
                if event.is_exec() {
                    crate::output::print_json(&event)
                }
            })
        } else {
            let printer = human.clone();
            EventSink::new(move |event| {
                if let rcodex_core::events::Event::ThreadStarted { thread_id } = &event {
                    printer.header(thread_id);
                }
                printer.event(&event)
            })
        };
        let sandbox_launcher = match std::env::current_exe() {
            Ok(path) => path,
            Err(e) => {
                print_error(&format!("could not find rcodex's own executable, which sandboxes commands: {e}"));
                return ExitCode::from(1);
            }
        };
        let options = SessionOptions {
            config,
            resume: None,
            ephemeral: args.ephemeral,
            output_schema: None,
            sandbox_launcher,
            fork: None,
            client: None,
            surface: Default::default(),
            interaction: Default::default(),
            spawned: None,
            child_events: None,
        };
        let outcome = tokio::select! {
            outcome = rcodex_core::review::run(options, &target, events) => Some(outcome),
            _ = tokio::signal::ctrl_c() => None,
        };
        match outcome {
            None => ExitCode::from(EXIT_INTERRUPTED),
            Some(Err(message)) => {
                print_error(&message);
                ExitCode::from(1)
            }
            Some(Ok(summary)) => finish(&args, &human, &summary),
        }
    })
}

/// A turn that completed: its last message written where `--output-last-message` says, and told to a person.
fn finish(args: &CommonArgs, human: &Human, summary: &rcodex_core::session::TurnSummary) -> ExitCode {
    if let Some(path) = &args.output_last_message
        && let Err(e) = std::fs::write(path, summary.last_message.clone().unwrap_or_default())
    {
        print_error(&format!("could not write {}: {e}", path.display()));
        return ExitCode::from(1);
    }
    if !args.json {
        human.finish(summary);
    }
    ExitCode::SUCCESS
}

/// Whether `cwd` is inside a git repository, by upstream 0.169.0's rule for exec's check (seen with `.git` entries
/// of every kind, see tests/tests/rcodex_sdk_exec.rs): the nearest ancestor with a `.git` directory holding a `HEAD`,
/// or with a `.git` file whatever it holds, symbolic links followed. A `.git` directory without `HEAD` does not count
/// (the search goes on above it); the project's trust level in config.toml plays no part.
fn inside_git_repository(cwd: &std::path::Path) -> bool {
    cwd.ancestors().any(|dir| {
        let git = dir.join(".git");
        if git.is_dir() { git.join("HEAD").exists() } else { git.exists() }
    })
}

/// Says on stderr which session files `exec resume` passed over and which lines of the chosen one it leaves out
/// (upstream does the same silently).
fn warn_skipped(found: &rcodex_core::rollout::Found) {
    for file in &found.skipped_files {
        print_warning(&format!("skipped session file {file}"));
    }
    for line in &found.skipped_lines {
        print_warning(&format!("left out of the resumed session: {line}"));
    }
}

/// The prompt from the command line, or from stdin when it is `-` or absent.
fn read_prompt(prompt: Option<String>) -> Result<String, String> {
    match prompt.as_deref() {
        Some(p) if p != "-" => {
            // A prompt argument with input piped in: the input goes with it.
            let mut stdin = std::io::stdin();
            if stdin.is_terminal() {
                return Ok(p.to_string());
            }
            let mut text = String::new();
            stdin.read_to_string(&mut text).map_err(|e| format!("could not read stdin: {e}"))?;
            Ok(rcodex_core::context::prompt_with_stdin(p, &text))
        }
        _ => {
            let mut stdin = std::io::stdin();
            if stdin.is_terminal() {
                return Err("No prompt provided. Give one as an argument, or pipe it on stdin.".into());
            }
            let mut text = String::new();
            stdin.read_to_string(&mut text).map_err(|e| format!("could not read the prompt from stdin: {e}"))?;
            let text = text.trim().to_string();
            if text.is_empty() {
                return Err("No prompt provided via stdin.".into());
            }
            Ok(text)
        }
    }
}

fn execute(prepared: Prepared, args: &CommonArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            print_error(&format!("could not start the runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let human = Arc::new(Human::new(&prepared.config, &prepared.prompt));
        let events = if args.json {
            EventSink::new(|event| {
                if event.is_exec() {
                    crate::output::print_json(&event)
                }
            })
        } else {
            let printer = human.clone();
            EventSink::new(move |event| printer.event(&event))
        };
        let sandbox_launcher = match std::env::current_exe() {
            Ok(path) => path,
            Err(e) => {
                print_error(&format!("could not find rcodex's own executable, which sandboxes commands: {e}"));
                return ExitCode::from(1);
            }
        };
        let options = SessionOptions {
            config: prepared.config,
            resume: prepared.resume,
            ephemeral: args.ephemeral,
            output_schema: prepared.output_schema,
            sandbox_launcher,
            fork: None,
            client: None,
            surface: Default::default(),
            interaction: Default::default(),
            spawned: None,
            // exec shows the children only through the parent's collab items.
            child_events: None,
        };
        let (thread, task) = match ThreadHandle::spawn(options, events.clone()) {
            Ok(started) => started,
            Err(e) => {
                print_error(&e.to_string());
                return ExitCode::from(1);
            }
        };
        if !args.json {
            human.header(thread.thread_id());
        }
        // As upstream: the images, then the prompt.
        let mut input: Vec<UserInput> =
            prepared.images.into_iter().map(|path| UserInput::LocalImage { path }).collect();
        input.push(UserInput::Text { text: prepared.prompt.clone() });
        let outcome = tokio::select! {
            outcome = thread.run_turn(input) => outcome.ok(),
            _ = tokio::signal::ctrl_c() => None,
        };
        // Commands still running (sessions the model left open, or an interrupted turn's) end with rcodex.
        thread.shutdown().await;
        let _ = task.await;
        // The `notify` program of the turn finishes before rcodex exits.
        rcodex_core::notify::wait_for_running(std::time::Duration::from_secs(5));
        match outcome {
            // Interrupted: what was said so far is in the session file; like upstream, no turn event follows.
            None => ExitCode::from(EXIT_INTERRUPTED),
            Some(Err(_)) => ExitCode::from(1),
            Some(Ok(summary)) => finish(args, &human, &summary),
        }
    })
}
