//! Scenarios: one file each, naming the model script, the prompts, the agent's options and the workspace.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use parity_server::Script;
use parity_server::script::{ScriptError, Syntax};
use serde::Deserialize;

/// A scenario as read from its file, its paths resolved.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file's stem: `plain-reply` for `plain-reply.toml`.
    pub name: String,
    pub path: PathBuf,
    pub description: String,
    /// The first turn's prompt.
    pub prompt: String,
    /// Prompts of later turns, each sent by resuming the session (`exec resume --last`).
    pub follow_ups: Vec<String>,
    /// Run alone when recording a suite: for scenarios whose outcome depends on timing.
    pub serial: bool,
    pub agent: AgentOptions,
    pub workspace: WorkspaceSpec,
    pub script: Script,
}

/// How the agent is configured for the scenario.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentOptions {
    /// The model (`model` in config.toml); [`DEFAULT_MODEL`] when absent.
    pub model: Option<String>,
    /// `sandbox_mode`: read-only, workspace-write or danger-full-access; the agent's default when absent.
    pub sandbox: Option<String>,
    /// `approval_policy`; `never` when absent (nobody can approve during a recording).
    pub approval: Option<String>,
    /// More config.toml keys, as a TOML table (nested tables allowed).
    #[serde(default)]
    pub config: toml::Table,
    /// More command-line arguments for every turn (for codex and rcodex, after `exec`).
    #[serde(default)]
    pub args: Vec<String>,
    /// Seconds each turn may take before the agent's process group is killed; [`DEFAULT_TIMEOUT_SECS`] when absent.
    pub timeout_secs: Option<u64>,
}

/// The model used when a scenario names none: upstream 0.169.0's default.
pub const DEFAULT_MODEL: &str = "gpt-5.5";
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;

impl AgentOptions {
    pub fn model(&self) -> &str {
        self.model.as_deref().unwrap_or(DEFAULT_MODEL)
    }

    pub fn approval(&self) -> &str {
        self.approval.as_deref().unwrap_or("never")
    }

    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS))
    }
}

/// What the workspace holds before the agent starts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkspaceSpec {
    /// Make the workspace a git repository, with everything committed (with fixed dates, so the commit hash is the
    /// same on every run).
    pub git: bool,
    /// Written to `AGENTS.md`.
    pub agents_md: Option<String>,
    /// Files by relative path, with their contents.
    pub files: BTreeMap<String, Vec<u8>>,
}

/// Why a scenario cannot be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}{location}: {message}")]
    Invalid { path: PathBuf, location: String, message: String },
    #[error("{0}")]
    Script(#[from] ScriptError),
}

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default)]
    description: String,
    prompt: String,
    #[serde(default)]
    follow_ups: Vec<String>,
    #[serde(default)]
    serial: bool,
    #[serde(default)]
    agent: AgentOptions,
    #[serde(default)]
    workspace: WorkspaceFile,
    /// The model script: a table in the server's scripted form, or the path of a script file.
    script: toml::Value,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkspaceFile {
    #[serde(default)]
    git: bool,
    agents_md: Option<String>,
    /// Text files: relative path -> contents.
    #[serde(default)]
    files: BTreeMap<String, String>,
    /// Files copied in: relative path in the workspace -> path relative to the scenario file (for images and other
    /// binary files).
    #[serde(default)]
    copy: BTreeMap<String, String>,
}

/// A path given relative to the scenario's folder, which must stay inside it: no absolute path, no `..`, and no
/// symbolic link that leads out.
fn inside_folder(base: &Path, relative: &str) -> Result<PathBuf, String> {
    let path = Path::new(relative);
    let escapes =
        path.components().any(|c| !matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
    if escapes {
        return Err("must be a path inside the scenario's folder (relative, without ..)".into());
    }
    let joined = base.join(path);
    if let (Ok(folder), Ok(real)) = (base.canonicalize(), joined.canonicalize())
        && !real.starts_with(&folder)
    {
        return Err(format!("leads out of the scenario's folder (to {})", real.display()));
    }
    Ok(joined)
}

impl Scenario {
    /// Reads and checks a scenario file, its script included.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io { path: path.into(), source })?;
        Scenario::parse(&text, path)
    }

    /// Parses a scenario; `path` names it in errors and anchors the relative paths it holds.
    pub fn parse(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
        let invalid =
            |location: String, message: String| ScenarioError::Invalid { path: path.into(), location, message };
        let de =
            toml::Deserializer::parse(text).map_err(|e| invalid(location(text, e.span()), e.message().to_string()))?;
        let file: ScenarioFile = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            invalid(location(text, inner.span()), format!("{field}: {}", inner.message()))
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let script = match file.script {
            toml::Value::String(script_path) => Script::load(&base.join(script_path))?,
            toml::Value::Table(table) => {
                let text = toml::to_string(&table).expect("a parsed table serializes");
                Script::parse(&text, Syntax::Toml, &format!("{} [script]", path.display()))?
            }
            other => {
                return Err(invalid(
                    String::new(),
                    format!("script: a table or a file path, not {}", other.type_str()),
                ));
            }
        };
        if script.steps.is_empty() && script.sessions.is_empty() {
            return Err(invalid(
                String::new(),
                "script: has no steps, so the agent's first request could not be answered".into(),
            ));
        }
        let mut files: BTreeMap<String, Vec<u8>> =
            file.workspace.files.into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
        for (target, source) in file.workspace.copy {
            let source = inside_folder(base, &source)
                .map_err(|why| invalid(String::new(), format!("workspace.copy.\"{target}\": \"{source}\" {why}")))?;
            let bytes = std::fs::read(&source).map_err(|e| {
                invalid(String::new(), format!("workspace.copy.\"{target}\": {}: {e}", source.display()))
            })?;
            files.insert(target, bytes);
        }
        for name in files.keys() {
            if Path::new(name).is_absolute() || name.split('/').any(|part| part == "..") {
                return Err(invalid(
                    String::new(),
                    format!("workspace: \"{name}\" must be a relative path inside the workspace"),
                ));
            }
        }
        if let Some(mode) = &file.agent.sandbox
            && !["read-only", "workspace-write", "danger-full-access"].contains(&mode.as_str())
        {
            return Err(invalid(
                String::new(),
                format!("agent.sandbox: \"{mode}\" is not read-only, workspace-write or danger-full-access"),
            ));
        }
        Ok(Scenario {
            name: path.file_stem().and_then(|s| s.to_str()).unwrap_or("scenario").to_string(),
            path: path.to_path_buf(),
            description: file.description,
            prompt: file.prompt,
            follow_ups: file.follow_ups,
            serial: file.serial,
            agent: file.agent,
            workspace: WorkspaceSpec { git: file.workspace.git, agents_md: file.workspace.agents_md, files },
            script,
        })
    }

    /// Every prompt, in order: the first turn's, then the follow-ups.
    pub fn prompts(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.prompt.as_str()).chain(self.follow_ups.iter().map(String::as_str))
    }
}

/// Every scenario (`*.toml`) in a directory, sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, ScenarioError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ScenarioError::Io { path: dir.into(), source })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths.iter().map(|p| Scenario::load(p)).collect()
}

fn location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
            format!(":{line}:{column}")
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(text, Path::new("/fixtures/scenarios/demo.toml"))
    }

    #[test]
    fn a_full_scenario_parses_with_defaults_filled_in() {
        let s = parse(
            r#"
            description = "demo"
            prompt = "first"
            follow_ups = ["second"]
            [agent]
            sandbox = "workspace-write"
            config = { model_reasoning_effort = "high", features = { x = true } }
            [workspace]
            git = true
            agents_md = "Be brief."
            files = { "src/a.txt" = "a" }
            [[script.steps]]
            output = [{ message = "one" }]
            [[script.steps]]
            output = [{ message = "two" }]
            "#,
        )
        .unwrap();
        assert_eq!(s.name, "demo");
        assert_eq!(s.prompts().collect::<Vec<_>>(), ["first", "second"]);
        assert_eq!((s.agent.model(), s.agent.approval()), (DEFAULT_MODEL, "never"));
        assert_eq!(s.agent.config["features"]["x"].as_bool(), Some(true));
        assert_eq!(s.script.steps.len(), 2);
        assert_eq!(s.workspace.files["src/a.txt"], b"a");
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_field() {
        let e = parse("prompt = \"p\"\n[agent]\nsandbox = \"yolo\"\n[[script.steps]]\noutput = []\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("demo.toml") && e.contains("agent.sandbox: \"yolo\""), "{e}");
        let e = parse("prompt = \"p\"\n[agent]\ntimeout_secs = \"soon\"\n[script]\nsteps = [{}]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("demo.toml:3:") && e.contains("agent.timeout_secs"), "{e}");
        let e =
            parse("prompt = \"p\"\n[script]\nsteps = [{ output = [{ mesage = \"x\" }] }]\n").unwrap_err().to_string();
        assert!(e.contains("demo.toml [script]") && e.contains("step 1") && e.contains("mesage"), "{e}");
        let e = parse("prompt = \"p\"\n[script]\n").unwrap_err().to_string();
        assert!(e.contains("has no steps"), "{e}");
        let e = parse("prompt = \"p\"\n[workspace]\nfiles = { \"../x\" = \"\" }\n[script]\nsteps = [{}]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"../x\" must be a relative path"), "{e}");
        let e = parse("promt = \"p\"\n").unwrap_err().to_string();
        assert!(e.contains("unknown field `promt`"), "{e}");
    }

    #[test]
    fn copies_come_from_inside_the_scenario_s_folder_only() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("scenarios");
        std::fs::create_dir_all(folder.join("files")).unwrap();
        std::fs::write(folder.join("files/ok.png"), b"png").unwrap();
        std::fs::write(dir.path().join("secret.txt"), b"secret").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), folder.join("files/link.txt")).unwrap();
        let with_copy = |source: &str| {
            let text =
                format!("prompt = \"p\"\n[workspace]\ncopy = {{ \"a\" = \"{source}\" }}\n[script]\nsteps = [{{}}]\n");
            Scenario::parse(&text, &folder.join("demo.toml")).map_err(|e| e.to_string())
        };
        assert_eq!(with_copy("files/ok.png").unwrap().workspace.files["a"], b"png");
        for (source, why) in [
            ("/etc/shadow", "must be a path inside the scenario's folder"),
            ("../secret.txt", "must be a path inside the scenario's folder"),
            ("files/../../secret.txt", "must be a path inside the scenario's folder"),
            ("files/link.txt", "leads out of the scenario's folder"),
        ] {
            let e = with_copy(source).unwrap_err();
            assert!(e.contains(&format!("workspace.copy.\"a\": \"{source}\" {why}")), "{e}");
        }
    }
}
