//! The agent under the harness: upstream Codex, rcodex, or any command. The harness treats each as a black box that
//! speaks HTTP; all it knows is how to start one turn.

use std::path::{Path, PathBuf};

/// The pinned upstream release, and where `scripts/install-upstream.sh` puts its native binary.
pub const UPSTREAM_VERSION: &str = "0.169.0";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Agent {
    /// Upstream Codex CLI's native binary.
    Codex { bin: PathBuf },
    /// rcodex, this project's agent.
    Rcodex { bin: PathBuf },
    /// A shell command template (see [`PLACEHOLDERS`]), run with `/bin/sh -c` once per turn, in the workspace (so
    /// paths in it should be absolute).
    Template { template: String },
}

/// What a template may use. Each value is shell-quoted where it is substituted.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("{prompt}", "the turn's prompt"),
    ("{turn}", "the turn's number, from 1"),
    ("{resume_args}", "`resume --last` on follow-up turns, nothing on the first"),
    ("{workspace}", "the workspace directory (also the working directory)"),
    ("{home}", "the isolated HOME"),
    ("{codex_home}", "the isolated CODEX_HOME, holding config.toml"),
    ("{base_url}", "the server's base URL, ending in /v1"),
    ("{model}", "the scenario's model"),
    ("{review_args}", "`review` and the scenario's agent.review arguments on a review's first turn, nothing otherwise"),
    (
        "{frontend}",
        "`exec` for exec scenarios, `app-server` for app-server ones (where {prompt} and {resume_args} are empty), \
         `tui` for tui ones (where {prompt} is empty and {resume_args} is a `start` step's arguments)",
    ),
];

/// What one turn needs to know to start.
#[derive(Debug, Clone)]
pub struct TurnSpec<'a> {
    /// 1-based.
    pub turn: usize,
    pub prompt: &'a str,
    pub workspace: &'a Path,
    pub home: &'a Path,
    pub codex_home: &'a Path,
    pub base_url: &'a str,
    pub model: &'a str,
    /// The scenario's extra arguments.
    pub args: &'a [String],
    /// `agent.review` on the first turn (it runs `exec review ARGS`), empty otherwise.
    pub review: &'a [String],
}

/// What an app-server process is told: the isolation's directories, the server and the scenario's options. The
/// prompts travel over JSON-RPC, not on the command line.
pub type ProcessSpec<'a> = TurnSpec<'a>;

impl Agent {
    /// `codex`, `rcodex`, or a command template (anything with a space or a placeholder).
    pub fn parse(spec: &str, upstream_bin: Option<&Path>, rcodex_bin: Option<&Path>) -> Result<Agent, String> {
        // Agents run in their workspace, where a relative path would mean something else.
        let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        match spec {
            "codex" => {
                Ok(Agent::Codex { bin: absolute(&upstream_bin.map(Path::to_path_buf).map_or_else(find_upstream, Ok)?) })
            }
            "rcodex" => {
                Ok(Agent::Rcodex { bin: absolute(&rcodex_bin.map(Path::to_path_buf).map_or_else(find_rcodex, Ok)?) })
            }
            template => {
                let mut rest = template;
                while let Some(open) = rest.find('{') {
                    let close = rest[open..].find('}').map(|c| open + c + 1).unwrap_or(rest.len());
                    let placeholder = &rest[open..close];
                    if !PLACEHOLDERS.iter().any(|(p, _)| *p == placeholder) {
                        let known: Vec<&str> = PLACEHOLDERS.iter().map(|(p, _)| *p).collect();
                        return Err(format!(
                            "--agent: unknown placeholder {placeholder}; the template may use {}",
                            known.join(" ")
                        ));
                    }
                    rest = &rest[close..];
                }
                Ok(Agent::Template { template: template.to_string() })
            }
        }
    }

    /// A short name for reports: `codex`, `rcodex` or `command`.
    pub fn label(&self) -> &'static str {
        match self {
            Agent::Codex { .. } => "codex",
            Agent::Rcodex { .. } => "rcodex",
            Agent::Template { .. } => "command",
        }
    }

    /// The program and arguments of one turn. Codex and rcodex run `exec` (then `exec resume --last` for follow-ups)
    /// with `--json`, so that their JSONL events are kept.
    pub fn command(&self, spec: &TurnSpec) -> (String, Vec<String>) {
        match self {
            Agent::Codex { bin } | Agent::Rcodex { bin } => {
                let mut args = vec!["exec".to_string()];
                if !spec.review.is_empty() {
                    args.push("review".to_string());
                } else if spec.turn > 1 {
                    args.extend(["resume".to_string(), "--last".to_string()]);
                }
                args.extend(["--skip-git-repo-check".to_string(), "--json".to_string()]);
                args.extend(spec.args.iter().cloned());
                args.extend(spec.review.iter().cloned());
                // A review's target is its request; a prompt beside it would be custom instructions.
                if spec.review.is_empty() || !spec.prompt.is_empty() {
                    args.push(spec.prompt.to_string());
                }
                (bin.display().to_string(), args)
            }
            Agent::Template { template } => {
                let resume = if spec.turn > 1 { "resume --last".to_string() } else { String::new() };
                let expanded = expand(template, spec, &shell_quote(spec.prompt), &resume, "exec");
                ("/bin/sh".to_string(), vec!["-c".to_string(), expanded])
            }
        }
    }

    /// The program and arguments of an app-server process: `BIN app-server` and the scenario's extra arguments for
    /// codex and rcodex; for a template, the template with `{frontend}` as `app-server` and `{prompt}` and
    /// `{resume_args}` empty (`spec.prompt` is not used).
    pub fn app_server_command(&self, spec: &ProcessSpec) -> (String, Vec<String>) {
        match self {
            Agent::Codex { bin } | Agent::Rcodex { bin } => {
                let mut args = vec!["app-server".to_string()];
                args.extend(spec.args.iter().cloned());
                (bin.display().to_string(), args)
            }
            Agent::Template { template } => {
                ("/bin/sh".to_string(), vec!["-c".to_string(), expand(template, spec, "", "", "app-server")])
            }
        }
    }
}

impl Agent {
    /// The program and arguments of a tui process: `BIN ARGS --no-daemon` and the scenario's extra arguments for
    /// codex and rcodex (`ARGS`: a `start` step's, e.g. `resume --last`; `--no-daemon` keeps upstream's interface
    /// and its app server in one process that the recorder ends with its group, instead of a shared background
    /// server that would outlive the run); for a template, the template with `{frontend}` as `tui`,
    /// `{resume_args}` as `ARGS` (quoted) and `{prompt}` empty.
    pub fn tui_command(&self, spec: &ProcessSpec, start_args: &[String]) -> (String, Vec<String>) {
        match self {
            Agent::Codex { bin } | Agent::Rcodex { bin } => {
                let mut args = start_args.to_vec();
                args.push("--no-daemon".to_string());
                args.extend(spec.args.iter().cloned());
                (bin.display().to_string(), args)
            }
            Agent::Template { template } => {
                let resume: Vec<String> = start_args.iter().map(|a| shell_quote(a)).collect();
                ("/bin/sh".to_string(), vec!["-c".to_string(), expand(template, spec, "", &resume.join(" "), "tui")])
            }
        }
    }
}

fn expand(template: &str, spec: &TurnSpec, prompt: &str, resume: &str, frontend: &str) -> String {
    template
        .replace("{prompt}", prompt)
        .replace("{turn}", &spec.turn.to_string())
        .replace("{resume_args}", resume)
        .replace("{workspace}", &shell_quote(&spec.workspace.display().to_string()))
        .replace("{home}", &shell_quote(&spec.home.display().to_string()))
        .replace("{codex_home}", &shell_quote(&spec.codex_home.display().to_string()))
        .replace("{base_url}", &shell_quote(spec.base_url))
        .replace("{model}", &shell_quote(spec.model))
        .replace("{frontend}", frontend)
        .replace("{review_args}", &review_args(spec.review))
}

fn review_args(review: &[String]) -> String {
    if review.is_empty() {
        return String::new();
    }
    std::iter::once("review".to_string()).chain(review.iter().map(|a| shell_quote(a))).collect::<Vec<_>>().join(" ")
}

/// `'text'`, with single quotes inside escaped, for `/bin/sh`.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The upstream binary: `$PARITY_UPSTREAM_BIN`, or what `scripts/install-upstream.sh` installed under `.upstream/`
/// of the current directory, one of its parents, or the repository this `parity` was built in.
pub fn find_upstream() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("PARITY_UPSTREAM_BIN") {
        return Ok(bin.into());
    }
    let platform = match std::env::consts::ARCH {
        "aarch64" => ("linux-arm64", "aarch64-unknown-linux-musl"),
        _ => ("linux-x64", "x86_64-unknown-linux-musl"),
    };
    let relative = format!(
        ".upstream/codex-{UPSTREAM_VERSION}/node_modules/@openai/codex-{}/vendor/{}/bin/codex",
        platform.0, platform.1
    );
    search_roots().into_iter().map(|root| root.join(&relative)).find(|p| p.is_file()).ok_or_else(|| {
        format!(
            "upstream Codex {UPSTREAM_VERSION} is not installed: run scripts/install-upstream.sh, or pass --upstream-bin"
        )
    })
}

/// The rcodex binary: beside this `parity` (same build), else on PATH.
pub fn find_rcodex() -> Result<PathBuf, String> {
    let beside = std::env::current_exe().ok().and_then(|exe| {
        let dir = exe.parent()?;
        // Integration tests and benches run from target/<profile>/deps; the binaries are one level up.
        [dir.join("rcodex"), dir.parent()?.join("rcodex")].into_iter().find(|p| p.is_file())
    });
    let on_path = || {
        std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("rcodex")).find(|p| p.is_file()))
    };
    beside
        .or_else(on_path)
        .ok_or_else(|| "rcodex is not built: run cargo build --release -p rcodex, or pass --rcodex-bin".to_string())
}

fn search_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    if let Some(manifest) = option_env!("CARGO_MANIFEST_DIR") {
        roots.extend(Path::new(manifest).ancestors().map(Path::to_path_buf));
    }
    roots
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(turn: usize, args: &'a [String]) -> TurnSpec<'a> {
        TurnSpec {
            turn,
            prompt: "it's done",
            workspace: Path::new("/w"),
            home: Path::new("/h"),
            codex_home: Path::new("/h/.codex"),
            base_url: "http://127.0.0.1:1/v1",
            model: "m",
            args,
            review: &[],
        }
    }

    #[test]
    fn codex_turns_run_exec_then_exec_resume() {
        let agent = Agent::Codex { bin: "/bin/codex".into() };
        let extra = vec!["--ephemeral".to_string()];
        let (program, args) = agent.command(&spec(1, &extra));
        assert_eq!(program, "/bin/codex");
        assert_eq!(args, ["exec", "--skip-git-repo-check", "--json", "--ephemeral", "it's done"]);
        let (_, args) = agent.command(&spec(2, &[]));
        assert_eq!(&args[..3], ["exec", "resume", "--last"]);
    }

    #[test]
    fn a_review_turn_runs_exec_review_with_its_target_and_no_empty_prompt() {
        let agent = Agent::Codex { bin: "/bin/codex".into() };
        let review = vec!["--commit".to_string(), "abc".to_string()];
        let turn = TurnSpec { prompt: "", review: &review, ..spec(1, &[]) };
        assert_eq!(agent.command(&turn).1, ["exec", "review", "--skip-git-repo-check", "--json", "--commit", "abc"]);
        let custom = TurnSpec { prompt: "look at errors", ..turn.clone() };
        assert_eq!(agent.command(&custom).1.last().unwrap(), "look at errors");
        let template = Agent::parse("a {frontend} {review_args} {prompt}", None, None).unwrap();
        assert_eq!(template.command(&turn).1[1], "a exec review '--commit' 'abc' ''");
        assert_eq!(template.command(&spec(1, &[])).1[1], "a exec  'it'\\''s done'");
    }

    #[test]
    fn templates_expand_quoted_placeholders_and_refuse_unknown_ones() {
        let agent = Agent::parse("my-agent {resume_args} --url {base_url} {prompt}", None, None).unwrap();
        let (program, args) = agent.command(&spec(2, &[]));
        assert_eq!(program, "/bin/sh");
        assert_eq!(args[1], r"my-agent resume --last --url 'http://127.0.0.1:1/v1' 'it'\''s done'");
        let both = Agent::parse("my-agent {frontend} {resume_args} {prompt}", None, None).unwrap();
        assert_eq!(both.command(&spec(2, &[])).1[1], r"my-agent exec resume --last 'it'\''s done'");
        assert_eq!(both.app_server_command(&spec(2, &[])).1[1], "my-agent app-server  ");
        let resume = ["resume".to_string(), "--last".to_string()];
        assert_eq!(both.tui_command(&spec(1, &[]), &resume).1[1], "my-agent tui 'resume' '--last' ");
        let codex = Agent::Codex { bin: "/bin/codex".into() };
        assert_eq!(codex.tui_command(&spec(1, &[]), &[]).1, ["--no-daemon"]);
        assert_eq!(codex.tui_command(&spec(2, &[]), &resume).1, ["resume", "--last", "--no-daemon"]);
        let err = Agent::parse("x {promt}", None, None).unwrap_err();
        assert!(err.contains("unknown placeholder {promt}") && err.contains("{prompt}"), "{err}");
    }
}
