//! What the end-to-end tests share: finding the workspace's binaries, running rcodex against a scripted server in
//! a home and workspace of its own, and reading back what it printed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use parity_recorder::isolate::IsolatedAgent;
use serde_json::Value;

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the repository").to_path_buf()
}

/// A binary of the workspace, built by `cargo build --workspace --bins` (which `scripts/test.sh` runs first).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows where it is");
    // target/<profile>/deps/<test>: the binaries are in target/<profile>.
    let dir = exe.parent().and_then(Path::parent).expect("a test binary lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --workspace --bins` first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A fresh CODEX_HOME (with a config.toml pointing at `base_url`) and workspace for one rcodex run: the harness's
/// [`IsolatedAgent`], with the key in [`KEY_VAR`].
pub struct Run {
    pub agent: IsolatedAgent,
    pub home: PathBuf,
    pub workspace: PathBuf,
}

/// The key variable rcodex's test provider reads.
pub const KEY_VAR: &str = "PARITY_E2E_KEY";

impl Run {
    /// `extra` goes into config.toml before the provider table (top-level keys); `provider` into the provider table.
    pub fn new(base_url: &str, extra: &str, provider: &str) -> Run {
        let agent = IsolatedAgent::builder(base_url)
            .config(extra)
            .provider(provider)
            .key(KEY_VAR, "sk-e2e-dummy")
            .work_root(work_root())
            .create()
            .expect("an isolated home and workspace");
        let (home, workspace) = (agent.codex_home().to_path_buf(), agent.workspace().to_path_buf());
        Run { agent, home, workspace }
    }

    /// A thread of rcodex's runtime in this process, on this run's home and workspace with `overrides` over its
    /// config.toml (new, or resuming the session file `resume`), and the events it emits as they come.
    pub fn thread(
        &self,
        overrides: rcodex_core::config::Overrides,
        resume: Option<PathBuf>,
        interaction: rcodex_core::interaction::Interaction,
    ) -> (rcodex_core::thread::ThreadHandle, Arc<Mutex<Vec<rcodex_core::events::Event>>>) {
        use rcodex_core::config::{Config, Overrides};
        // The provider reads its key from the process environment; every test sets the same value.
        // SAFETY: set before any thread of the test reads it, always to the same value.
        unsafe { std::env::set_var(KEY_VAR, "sk-e2e-dummy") };
        let overrides =
            Overrides { codex_home: Some(self.home.clone()), cwd: Some(self.workspace.clone()), ..overrides };
        let config = Config::load(&overrides).expect("the run's config loads");
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let events = events.clone();
            rcodex_core::events::EventSink::new(move |event| events.lock().unwrap().push(event))
        };
        let options = rcodex_core::session::SessionOptions {
            config,
            resume,
            ephemeral: false,
            output_schema: None,
            sandbox_launcher: bin("rcodex"),
            fork: None,
            client: None,
            surface: Default::default(),
            interaction,
            spawned: None,
            child_events: None,
        };
        let (handle, _task) = rcodex_core::thread::ThreadHandle::spawn(options, sink).expect("the thread starts");
        (handle, events)
    }

    /// Where a test may put files of its own beside the run (removed with it).
    pub fn dir(&self) -> &Path {
        self.agent.root()
    }

    /// `rcodex` with a controlled environment, in the workspace.
    pub fn rcodex(&self, args: &[&str]) -> Command {
        let mut command = self.agent.command(bin("rcodex"));
        command.args(args);
        command
    }

    /// Runs `rcodex exec --skip-git-repo-check --json <args>` to the end (see [`outcome`]).
    pub async fn exec(&self, args: &[&str]) -> Outcome {
        outcome(self.rcodex(&[&["exec", "--skip-git-repo-check", "--json"], args].concat())).await
    }

    /// The session files rcodex wrote.
    pub fn session_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let mut dirs = vec![self.home.join("sessions")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                if entry.path().is_dir() {
                    dirs.push(entry.path());
                } else {
                    files.push(entry.path());
                }
            }
        }
        files
    }
}

/// A scripted server of the test's own, started.
pub async fn scripted(script: impl Into<parity_server::Script>) -> parity_server::ParityServer {
    parity_server::ParityServer::scripted(script).start().await.expect("the server starts")
}

/// Runs a command to the end on a blocking thread, so that a server running in the test's own runtime keeps serving.
pub async fn outcome(mut command: Command) -> Outcome {
    tokio::task::spawn_blocking(move || Outcome::of(command.output().expect("the command starts")))
        .await
        .expect("the blocking thread ends")
}

/// Outside the system temp directory, like the recorder's runs.
fn work_root() -> PathBuf {
    let root = Path::new("/var/tmp/parity-e2e");
    std::fs::create_dir_all(root).map(|_| root.to_path_buf()).unwrap_or_else(|_| std::env::temp_dir())
}

/// What an rcodex run printed and how it ended.
pub struct Outcome {
    pub code: Option<i32>,
    pub events: Vec<Value>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn of(output: Output) -> Outcome {
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let events = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        Outcome {
            code: output.status.code(),
            events,
            stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The events of one type, in order.
    pub fn of_type(&self, event_type: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["type"] == event_type).collect()
    }

    /// `error` events' messages (retries and warnings).
    pub fn errors(&self) -> Vec<String> {
        self.of_type("error").iter().map(|e| e["message"].as_str().unwrap_or_default().to_string()).collect()
    }

    pub fn agent_messages(&self) -> Vec<String> {
        self.of_type("item.completed")
            .iter()
            .filter(|e| e["item"]["type"] == "agent_message")
            .map(|e| e["item"]["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// A readable account for assertion messages.
    pub fn explain(&self) -> String {
        format!("exit {:?}\nstdout:\n{}\nstderr:\n{}", self.code, self.stdout, self.stderr)
    }
}

/// The output item (`function_call_output`, `custom_tool_call_output`...) answering `call_id`, from the last model
/// request that carries it.
pub fn output_item(requests: &[parity_capture::Capture], call_id: &str) -> Value {
    requests
        .iter()
        .rev()
        .flat_map(|c| c.request.input().iter())
        .find(|i| i["call_id"] == call_id && i["type"].as_str().is_some_and(|t| t.ends_with("_output")))
        .unwrap_or_else(|| panic!("no output for {call_id}"))
        .clone()
}

/// The text of the output answering `call_id` (see [`output_item`]).
pub fn output_text(requests: &[parity_capture::Capture], call_id: &str) -> String {
    output_item(requests, call_id)["output"].as_str().expect("a text output").to_string()
}
