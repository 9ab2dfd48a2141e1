//! Isolation: every run gets a fresh HOME, CODEX_HOME and workspace, and a cleared environment, so that nothing of
//! the host leaks into what the agent sends.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::agent::TurnSpec;
use crate::scenario::Scenario;

/// The only PATH an agent sees.
pub const AGENT_PATH: &str = "/usr/bin:/bin";
/// The environment variable holding the dummy key; the config's provider names it as its `env_key`.
pub const API_KEY_VAR: &str = "PARITY_API_KEY";
pub const DUMMY_KEY: &str = "parity-dummy-key";
/// Git dates and identity are fixed, so a scenario's commit hash is the same on every run.
const GIT_DATE: &str = "2026-01-01T00:00:00Z";

/// The directories of one run. Removed on drop unless kept.
#[derive(Debug)]
pub struct RunDirs {
    root: Option<tempfile::TempDir>,
    kept: Option<PathBuf>,
    pub home: PathBuf,
    pub codex_home: PathBuf,
    pub workspace: PathBuf,
    /// The credential variables of the agent's environment: the custom provider's key, or the built-in provider's
    /// when the scenario gives it in the environment (none when it is in `auth.json`).
    key_env: Vec<(String, String)>,
    /// The MCP fixture serving streamable HTTP for this run, when the config names `{mcp_fixture_url}`.
    _mcp_http: Option<McpHttpFixture>,
}

impl RunDirs {
    /// The turns of `scenario` run in these directories against `base_url`: one per prompt, numbered from 1.
    pub fn turns<'a>(&'a self, scenario: &'a Scenario, base_url: &'a str) -> impl Iterator<Item = TurnSpec<'a>> {
        scenario.prompts().enumerate().map(move |(i, prompt)| TurnSpec {
            turn: i + 1,
            prompt,
            workspace: &self.workspace,
            home: &self.home,
            codex_home: &self.codex_home,
            base_url,
            model: scenario.agent.model(),
            args: &scenario.agent.args,
            review: if i == 0 { &scenario.agent.review } else { &[] },
        })
    }

    /// Lays out a run under `work_root`: HOME, CODEX_HOME (`HOME/.codex`, holding a config.toml that points the agent
    /// at `base_url`) and the scenario's workspace.
    pub fn create(work_root: &Path, scenario: &Scenario, base_url: &str) -> std::io::Result<RunDirs> {
        std::fs::create_dir_all(work_root)?;
        let root = tempfile::Builder::new().prefix(&format!("{}-", scenario.name)).tempdir_in(work_root)?;
        let home = root.path().join("home");
        let codex_home = home.join(".codex");
        let workspace = root.path().join("workspace");
        std::fs::create_dir_all(&codex_home)?;
        std::fs::create_dir_all(&workspace)?;
        let mut config = run_config(scenario, base_url, &workspace, &home);
        let mcp_http = match config.contains(MCP_FIXTURE_URL_PLACEHOLDER) {
            true => Some(McpHttpFixture::start()?),
            false => None,
        };
        if let Some(fixture) = &mcp_http {
            config = config.replace(MCP_FIXTURE_URL_PLACEHOLDER, &fixture.url);
        }
        std::fs::write(codex_home.join("config.toml"), config)?;
        for (name, contents) in &scenario.home_files {
            let path = home.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, contents)?;
        }
        for (name, contents) in &scenario.workspace.files {
            let path = workspace.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, contents)?;
        }
        if let Some(agents_md) = &scenario.workspace.agents_md {
            std::fs::write(workspace.join("AGENTS.md"), agents_md)?;
        }
        if scenario.workspace.git {
            git_init(&workspace, &home, &scenario.workspace)?;
        }
        let key_env = crate::credentials::lay_out(scenario, &codex_home, base_url)?;
        Ok(RunDirs { root: Some(root), kept: None, home, codex_home, workspace, key_env, _mcp_http: mcp_http })
    }

    pub fn root(&self) -> &Path {
        self.root.as_ref().map(|r| r.path()).or(self.kept.as_deref()).expect("a run has a root")
    }

    /// Keeps the directories on disk after the run (for debugging); returns where they are.
    pub fn keep(&mut self) -> PathBuf {
        if let Some(root) = self.root.take() {
            self.kept = Some(root.keep());
        }
        self.kept.clone().expect("kept")
    }

    /// The agent's whole environment: nothing else from the host.
    pub fn env(&self, base_url: &str, turn: usize) -> Vec<(String, String)> {
        [
            ("PATH", AGENT_PATH.to_string()),
            ("HOME", self.home.display().to_string()),
            ("CODEX_HOME", self.codex_home.display().to_string()),
            ("TERM", "dumb".to_string()),
            ("LANG", "C.UTF-8".to_string()),
            ("LC_ALL", "C.UTF-8".to_string()),
            ("TZ", "UTC".to_string()),
            ("SHELL", "/bin/bash".to_string()),
            ("USER", "parity".to_string()),
            ("LOGNAME", "parity".to_string()),
            ("PARITY_BASE_URL", base_url.to_string()),
            ("PARITY_TURN", turn.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .chain(self.key_env.iter().cloned())
        .collect()
    }
}

/// The run's config.toml: [`config_toml`], over what a user of the interactive interface has in theirs (the
/// workspace trusted, first-run screens seen) for a tui scenario.
/// `{workspace}` and `{home}` in the scenario's config strings become the run's directories (for keys that take
/// absolute paths, such as `writable_roots`).
fn run_config(scenario: &Scenario, base_url: &str, workspace: &Path, home: &Path) -> String {
    let mut ours: toml::Table = toml::from_str(&config_toml(scenario, base_url)).expect("config_toml writes TOML");
    expand_dirs(&mut ours, &workspace.display().to_string(), &home.display().to_string());
    if scenario.agent.frontend != crate::scenario::Frontend::Tui {
        return toml::to_string(&ours).expect("a TOML table serializes");
    }
    let mut config = crate::frontend::tui::user_config(workspace);
    merge(&mut config, &ours);
    toml::to_string(&config).expect("a TOML table serializes")
}

fn expand_dirs(table: &mut toml::Table, workspace: &str, home: &str) {
    fn expand(value: &mut toml::Value, workspace: &str, home: &str) {
        match value {
            toml::Value::String(s) => {
                *s = s.replace("{workspace}", workspace).replace("{home}", home);
                if s.contains(MCP_FIXTURE_PLACEHOLDER) {
                    *s = s.replace(MCP_FIXTURE_PLACEHOLDER, &mcp_fixture_path().display().to_string());
                }
            }
            toml::Value::Array(items) => items.iter_mut().for_each(|v| expand(v, workspace, home)),
            toml::Value::Table(t) => expand_dirs(t, workspace, home),
            _ => {}
        }
    }
    table.iter_mut().for_each(|(_, v)| expand(v, workspace, home));
}

/// The placeholder, in a scenario's config strings, for the absolute path of the MCP fixture server.
pub const MCP_FIXTURE_PLACEHOLDER: &str = "{mcp_fixture}";

/// The placeholder, in a scenario's config strings, for the URL of the MCP fixture server serving streamable HTTP:
/// the run starts one of its own (`parity-mcp-fixture --http 127.0.0.1:0`) and stops it at its end.
pub const MCP_FIXTURE_URL_PLACEHOLDER: &str = "{mcp_fixture_url}";

/// The MCP fixture server over streamable HTTP, on a loopback port of its own; killed when dropped.
#[derive(Debug)]
struct McpHttpFixture {
    child: std::process::Child,
    url: String,
}

impl McpHttpFixture {
    fn start() -> std::io::Result<McpHttpFixture> {
        use std::io::BufRead as _;
        let path = mcp_fixture_path();
        let mut child = Command::new(&path)
            .args(["--http", "127.0.0.1:0"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| std::io::Error::new(e.kind(), format!("starting {} --http: {e}", path.display())))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut url = String::new();
        std::io::BufReader::new(stdout).read_line(&mut url)?;
        let url = url.trim().to_string();
        if !url.starts_with("http://") {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other(format!("{} --http said no URL", path.display())));
        }
        Ok(McpHttpFixture { child, url })
    }
}

impl Drop for McpHttpFixture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the MCP fixture server (`parity-mcp-fixture`, harness/mcp-fixture) is: `$PARITY_MCP_FIXTURE`, else beside
/// the running binary (`target/release/parity` has it beside it once the workspace is built), else one directory up
/// (a test binary runs from `target/*/deps`). A path that does not exist is kept as it is: the agent then reports
/// the server it could not start, which names the path.
pub fn mcp_fixture_path() -> PathBuf {
    if let Some(path) = std::env::var_os("PARITY_MCP_FIXTURE") {
        return PathBuf::from(path);
    }
    let name = "parity-mcp-fixture";
    let exe = std::env::current_exe().unwrap_or_default();
    let beside = exe.parent().map(|dir| dir.join(name)).unwrap_or_else(|| PathBuf::from(name));
    if beside.exists() {
        return beside;
    }
    match exe.parent().and_then(Path::parent).map(|dir| dir.join(name)) {
        Some(up) if up.exists() => up,
        _ => beside,
    }
}

/// The agent's config.toml: the scenario's options, and a model provider pointing at the server.
pub fn config_toml(scenario: &Scenario, base_url: &str) -> String {
    let options = &scenario.agent;
    let mut config = toml::Table::new();
    config.insert("model".into(), options.model().into());
    if options.provider == crate::scenario::Provider::Parity {
        config.insert("model_provider".into(), "parity".into());
    }
    // Upstream 0.169.0 refuses `untrusted` in config.toml, and its app server takes it in `thread/start`: there the
    // request alone says it (the app server's default, `on-request`, is in force until then).
    let request_only = options.frontend == crate::scenario::Frontend::AppServer && options.approval() == "untrusted";
    if !request_only {
        config.insert("approval_policy".into(), options.approval().into());
    }
    if let Some(sandbox) = &options.sandbox {
        config.insert("sandbox_mode".into(), sandbox.clone().into());
    }
    merge(&mut config, &options.config);
    match options.provider {
        crate::scenario::Provider::Parity => point_at(&mut config, base_url, API_KEY_VAR),
        crate::scenario::Provider::Openai => crate::credentials::point_builtin_at(&mut config, base_url),
    }
    toml::to_string(&config).expect("a TOML table serializes")
}

/// The provider `parity` pointed at the server. The scenario may tune the provider (retries, timeouts); where it
/// points and how it authenticates are the harness's.
fn point_at(config: &mut toml::Table, base_url: &str, key_var: &str) {
    let providers = table_at(config, "model_providers");
    let provider = table_at(providers, "parity");
    provider.insert("name".into(), "parity".into());
    provider.insert("base_url".into(), base_url.into());
    provider.insert("wire_api".into(), "responses".into());
    provider.insert("env_key".into(), key_var.into());
}

/// An agent a test drives by hand against a parity server, isolated as the recorder isolates its runs: a fresh HOME
/// and `CODEX_HOME` whose config.toml points a provider named `parity` at the server, a workspace, and commands with
/// a cleared environment. One call replaces the set-up every test of an agent would otherwise copy:
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use parity_recorder::isolate::IsolatedAgent;
/// let agent = IsolatedAgent::builder("http://127.0.0.1:8765/v1")
///     .config("model_reasoning_effort = \"high\"")
///     .file("hello.txt", "hi")
///     .create()?;
/// let output = agent.command("codex").args(["exec", "--skip-git-repo-check", "--json", "list the files"]).output()?;
/// # Ok(()) }
/// ```
///
/// The directories are removed when it is dropped, unless [`IsolatedAgent::keep`] is called.
#[derive(Debug)]
pub struct IsolatedAgent {
    dirs: RunDirs,
    base_url: String,
    key: (String, String),
}

/// How to lay out an [`IsolatedAgent`].
#[derive(Debug, Clone)]
pub struct IsolatedAgentBuilder {
    base_url: String,
    config: Vec<String>,
    provider: Vec<String>,
    files: Vec<(String, Vec<u8>)>,
    git: bool,
    interactive: bool,
    key: (String, String),
    work_root: PathBuf,
}

impl IsolatedAgent {
    /// Starts laying out an agent pointed at `base_url` (a server's `/v1` base URL).
    pub fn builder(base_url: &str) -> IsolatedAgentBuilder {
        IsolatedAgentBuilder {
            base_url: base_url.to_string(),
            config: Vec::new(),
            provider: Vec::new(),
            files: Vec::new(),
            git: false,
            interactive: false,
            key: (API_KEY_VAR.to_string(), DUMMY_KEY.to_string()),
            work_root: crate::suite::default_work_root(),
        }
    }

    /// A command run in the workspace with the isolated environment only (nothing of the host's), stdin closed.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command.current_dir(&self.dirs.workspace).env_clear().stdin(std::process::Stdio::null());
        for (key, value) in self.env() {
            command.env(key, value);
        }
        command
    }

    /// The whole environment [`IsolatedAgent::command`] gives, the dummy key under the builder's variable.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = self.dirs.env(&self.base_url, 1);
        for (key, value) in &mut env {
            if key == API_KEY_VAR {
                (*key, *value) = self.key.clone();
            }
        }
        env
    }

    /// The root holding `home/` and `workspace/`, a place for a test's own files too.
    pub fn root(&self) -> &Path {
        self.dirs.root()
    }

    pub fn home(&self) -> &Path {
        &self.dirs.home
    }

    pub fn codex_home(&self) -> &Path {
        &self.dirs.codex_home
    }

    pub fn workspace(&self) -> &Path {
        &self.dirs.workspace
    }

    /// Keeps the directories after the agent is dropped (to look at them); returns where they are.
    pub fn keep(&mut self) -> PathBuf {
        self.dirs.keep()
    }
}

impl IsolatedAgentBuilder {
    /// Sets the home up for the interactive interface, as the recorder does for a tui scenario: the workspace
    /// trusted and the first-run screens seen ([`crate::frontend::tui::user_config`]), under the other keys.
    pub fn interactive(mut self, interactive: bool) -> Self {
        self.interactive = interactive;
        self
    }

    /// Top-level config.toml keys (TOML text), merged over the defaults (model gpt-5.5, approval never).
    pub fn config(mut self, toml: &str) -> Self {
        self.config.push(toml.to_string());
        self
    }

    /// Keys of the `[model_providers.parity]` table (TOML text), such as retry counts.
    pub fn provider(mut self, toml: &str) -> Self {
        self.provider.push(toml.to_string());
        self
    }

    /// A file of the workspace, by relative path.
    pub fn file(mut self, path: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.files.push((path.to_string(), contents.into()));
        self
    }

    /// Makes the workspace a git repository with one commit of its files (fixed dates and identity).
    pub fn git(mut self, git: bool) -> Self {
        self.git = git;
        self
    }

    /// The variable the provider reads its key from, and the (dummy) key commands get in it
    /// (`PARITY_API_KEY=parity-dummy-key` by default).
    pub fn key(mut self, var: &str, value: &str) -> Self {
        self.key = (var.to_string(), value.to_string());
        self
    }

    /// Where the directories are made (`/var/tmp/parity-runs` by default: Codex behaves differently under /tmp).
    pub fn work_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.work_root = dir.into();
        self
    }

    /// Lays the directories out. A `config` or `provider` text that is not TOML is an error naming it.
    pub fn create(self) -> std::io::Result<IsolatedAgent> {
        let parse = |what: &str, text: &str| -> std::io::Result<toml::Table> {
            toml::from_str(text).map_err(|e| std::io::Error::other(format!("IsolatedAgent {what}: {e}")))
        };
        let mut agent = toml::Table::new();
        for text in &self.config {
            merge(&mut agent, &parse("config", text)?);
        }
        let mut provider = toml::Table::new();
        for text in &self.provider {
            merge(&mut provider, &parse("provider", text)?);
        }
        // A scenario of no prompts but these options and files: the recorder's own layout, reused whole.
        let mut scenario = Scenario::parse("prompt = \"\"\n[[script.steps]]\n", Path::new("isolated-agent.toml"))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        merge(&mut scenario.agent.config, &agent);
        merge(table_at(table_at(&mut scenario.agent.config, "model_providers"), "parity"), &provider);
        scenario.workspace.files = self.files.into_iter().collect();
        scenario.workspace.git = self.git;
        if self.interactive {
            scenario.agent.frontend = crate::scenario::Frontend::Tui;
        }
        let dirs = RunDirs::create(&self.work_root, &scenario, &self.base_url)?;
        // The key variable is the builder's: rewrite the provider's env_key.
        let mut config: toml::Table =
            toml::from_str(&run_config(&scenario, &self.base_url, &dirs.workspace, &dirs.home))
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        point_at(&mut config, &self.base_url, &self.key.0);
        std::fs::write(dirs.codex_home.join("config.toml"), toml::to_string(&config).map_err(std::io::Error::other)?)?;
        Ok(IsolatedAgent { dirs, base_url: self.base_url, key: self.key })
    }
}

/// The table under `key`, made one if it is absent or something else.
fn table_at<'a>(table: &'a mut toml::Table, key: &str) -> &'a mut toml::Table {
    if !table.get(key).is_some_and(toml::Value::is_table) {
        table.insert(key.to_string(), toml::Table::new().into());
    }
    table.get_mut(key).and_then(toml::Value::as_table_mut).expect("just made a table")
}

/// Deep merge: tables merge key by key, anything else replaces.
fn merge(into: &mut toml::Table, from: &toml::Table) {
    for (key, value) in from {
        match (into.get_mut(key), value) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            _ => {
                into.insert(key.clone(), value.clone());
            }
        }
    }
}

/// The repository: the files in a first commit on `main`, then each of `spec.commits`, then `spec.changes` written
/// and left uncommitted. Every commit has the same fixed dates and identity, so its hash depends on its content only.
fn git_init(workspace: &Path, home: &Path, spec: &crate::scenario::WorkspaceSpec) -> std::io::Result<()> {
    let git = |args: &[&str]| -> std::io::Result<()> {
        let output = Command::new("git")
            .args([
                "-c",
                "init.defaultBranch=main",
                "-c",
                "user.name=parity",
                "-c",
                "user.email=parity@example.invalid",
            ])
            .args(["-c", "commit.gpgsign=false"])
            .args(args)
            .current_dir(workspace)
            .env_clear()
            .env("PATH", AGENT_PATH)
            .env("HOME", home)
            .env("GIT_AUTHOR_DATE", GIT_DATE)
            .env("GIT_COMMITTER_DATE", GIT_DATE)
            .output()?;
        if output.status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            )))
        }
    };
    let write = |name: &str, contents: &[u8]| -> std::io::Result<()> {
        let path = workspace.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, contents)
    };
    git(&["init", "-q"])?;
    git(&["add", "-A"])?;
    git(&["commit", "-q", "--allow-empty", "-m", "scenario workspace"])?;
    for commit in &spec.commits {
        if let Some(branch) = &commit.branch {
            git(&["checkout", "-q", "-b", branch])?;
        }
        for (name, contents) in &commit.files {
            write(name, contents.as_bytes())?;
        }
        for name in &commit.remove {
            std::fs::remove_file(workspace.join(name))?;
        }
        git(&["add", "-A"])?;
        git(&["commit", "-q", "-m", &commit.message])?;
    }
    for (name, contents) in &spec.changes {
        write(name, contents)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(extra: &str) -> Scenario {
        let text = format!("prompt = \"p\"\n{extra}\n[[script.steps]]\noutput = [{{ message = \"m\" }}]\n");
        Scenario::parse(&text, Path::new("/s/demo.toml")).unwrap()
    }

    #[test]
    fn config_points_at_the_server_and_carries_the_options() {
        let s = scenario(
            "[agent]\nsandbox = \"workspace-write\"\nconfig = { model_reasoning_effort = \"high\", model_providers = { parity = { stream_max_retries = 0, base_url = \"http://elsewhere\" } } }",
        );
        let config: toml::Table = toml::from_str(&config_toml(&s, "http://127.0.0.1:9/v1")).unwrap();
        assert_eq!(config["model"].as_str(), Some("gpt-5.5"));
        assert_eq!(config["sandbox_mode"].as_str(), Some("workspace-write"));
        assert_eq!(config["approval_policy"].as_str(), Some("never"));
        assert_eq!(config["model_reasoning_effort"].as_str(), Some("high"));
        let provider = &config["model_providers"]["parity"];
        assert_eq!(provider["base_url"].as_str(), Some("http://127.0.0.1:9/v1"));
        assert_eq!(provider["env_key"].as_str(), Some(API_KEY_VAR));
        assert_eq!(provider["stream_max_retries"].as_integer(), Some(0), "the scenario tunes the provider");
        assert_ne!(provider["base_url"].as_str(), Some("http://elsewhere"), "but the recorder says where it points");
    }

    #[test]
    fn home_files_are_written_and_config_paths_name_the_run() {
        let work = tempfile::tempdir().unwrap();
        let s = scenario(
            "[agent]\nstdin = \"piped\"\nenv = { SHELL = \"/bin/sh\" }\nconfig = { model_instructions_file = \"{home}/i.md\", \
             sandbox_workspace_write = { writable_roots = [\"{workspace}/x\"] } }\n\
             [home]\nfiles = { \".codex/AGENTS.md\" = \"global\" }",
        );
        assert_eq!(s.agent.stdin.as_deref(), Some("piped"));
        assert_eq!(s.agent.env["SHELL"], "/bin/sh");
        let dirs = RunDirs::create(work.path(), &s, "http://x/v1").unwrap();
        assert_eq!(std::fs::read_to_string(dirs.codex_home.join("AGENTS.md")).unwrap(), "global");
        let config: toml::Table =
            toml::from_str(&std::fs::read_to_string(dirs.codex_home.join("config.toml")).unwrap()).unwrap();
        assert_eq!(config["model_instructions_file"].as_str(), Some(&*format!("{}/i.md", dirs.home.display())));
        let roots = &config["sandbox_workspace_write"]["writable_roots"][0];
        assert_eq!(roots.as_str(), Some(&*format!("{}/x", dirs.workspace.display())));
    }

    #[test]
    fn workspaces_are_laid_out_and_git_commits_are_reproducible() {
        let work = tempfile::tempdir().unwrap();
        let s = scenario("[workspace]\ngit = true\nagents_md = \"Be brief.\"\nfiles = { \"src/a.txt\" = \"a\" }");
        let heads: Vec<String> = (0..2)
            .map(|_| {
                let dirs = RunDirs::create(work.path(), &s, "http://x/v1").unwrap();
                assert_eq!(std::fs::read_to_string(dirs.workspace.join("src/a.txt")).unwrap(), "a");
                assert_eq!(std::fs::read_to_string(dirs.workspace.join("AGENTS.md")).unwrap(), "Be brief.");
                assert!(dirs.codex_home.join("config.toml").is_file());
                let out =
                    Command::new("git").args(["rev-parse", "HEAD"]).current_dir(&dirs.workspace).output().unwrap();
                String::from_utf8(out.stdout).unwrap()
            })
            .collect();
        assert_eq!(heads[0], heads[1], "fixed dates and identity give the same commit");
        assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0, "run directories are removed on drop");
    }

    #[test]
    fn later_commits_branches_and_uncommitted_changes_are_laid_out_reproducibly() {
        let work = tempfile::tempdir().unwrap();
        let s = scenario(
            "[workspace]\ngit = true\nfiles = { \"a.txt\" = \"a\", \"b.txt\" = \"b\" }\n\
             [[workspace.commits]]\nmessage = \"Change a\"\nfiles = { \"a.txt\" = \"a2\" }\n\
             [[workspace.commits]]\nmessage = \"Drop b\"\nbranch = \"feature\"\nremove = [\"b.txt\"]\n\
             [workspace.changes]\n\"a.txt\" = \"a3\"\n\"new.txt\" = \"n\"",
        );
        let git = |dir: &Path, args: &[&str]| {
            let out = Command::new("git").args(args).current_dir(dir).output().unwrap();
            assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        let logs: Vec<String> = (0..2)
            .map(|_| {
                let dirs = RunDirs::create(work.path(), &s, "http://x/v1").unwrap();
                let w = &dirs.workspace;
                assert_eq!(git(w, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(), "feature");
                assert_eq!(git(w, &["status", "--porcelain"]), " M a.txt\n?? new.txt\n");
                assert_eq!(git(w, &["show", "HEAD:a.txt"]), "a2");
                assert!(!w.join("b.txt").exists());
                assert_eq!(
                    git(w, &["log", "--format=%s", "main"]).lines().collect::<Vec<_>>(),
                    ["Change a", "scenario workspace"]
                );
                git(w, &["log", "--format=%H %s"])
            })
            .collect();
        assert_eq!(logs[0], logs[1], "the same hashes on every run");
        assert_eq!(logs[0].lines().count(), 3);
    }

    #[test]
    fn an_isolated_agent_gets_its_config_files_and_nothing_of_the_host() {
        let work = tempfile::tempdir().unwrap();
        let agent = IsolatedAgent::builder("http://127.0.0.1:9/v1")
            .config("model_reasoning_effort = \"high\"\n[features]\nx = true")
            .provider("stream_max_retries = 1")
            .file("src/a.txt", "a")
            .key("MY_KEY", "parity-dummy-key")
            .work_root(work.path())
            .create()
            .unwrap();
        let config: toml::Table =
            toml::from_str(&std::fs::read_to_string(agent.codex_home().join("config.toml")).unwrap()).unwrap();
        assert_eq!(config["model"].as_str(), Some("gpt-5.5"));
        assert_eq!(config["model_reasoning_effort"].as_str(), Some("high"));
        let provider = &config["model_providers"]["parity"];
        assert_eq!(provider["base_url"].as_str(), Some("http://127.0.0.1:9/v1"));
        assert_eq!(provider["env_key"].as_str(), Some("MY_KEY"));
        assert_eq!(provider["stream_max_retries"].as_integer(), Some(1));
        assert_eq!(std::fs::read_to_string(agent.workspace().join("src/a.txt")).unwrap(), "a");
        // The command's environment is the isolated one: no variable of the host (this test's CARGO_*) reaches it.
        let output = agent.command("/usr/bin/env").output().unwrap();
        let env = String::from_utf8(output.stdout).unwrap();
        assert!(env.contains("MY_KEY=parity-dummy-key") && !env.contains("PARITY_API_KEY"), "{env}");
        assert!(env.lines().all(|l| !l.starts_with("CARGO")), "nothing of the host: {env}");
        assert!(env.contains(&format!("HOME={}", agent.home().display())));
        drop(agent);
        assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0, "removed on drop");
        assert!(IsolatedAgent::builder("x").config("not toml [").work_root(work.path()).create().is_err());
    }
}
