//! Recording one scenario: a scripted server in-process, an isolated run, the agent turn by turn under a timeout,
//! and everything kept: captures, stdout, stderr, JSONL events, exit statuses.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parity_capture::store::write_atomic;
use parity_server::ParityServer;
use serde::{Deserialize, Serialize};

use crate::agent::Agent;
use crate::frontend::{RunContext, drive};
use crate::isolate::RunDirs;
use crate::output::{OutputError, RUN_JSON};
use crate::scenario::{Frontend, Scenario};

/// The versioned format name of `run.json`.
pub const RUN_FORMAT: &str = "parity.run/v1";
/// Where a run's captures go, inside its output directory.
pub const CAPTURES_DIR: &str = "captures";

/// Where and how to record.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// The run's output directory.
    pub out: PathBuf,
    /// Where run directories (HOME, workspace) are made. Outside the system temp directory by default: Codex
    /// behaves differently when its home is under /tmp.
    pub work_root: PathBuf,
    /// Keep the run directories after the run.
    pub keep_work: bool,
    /// Replace what an earlier run left in `out`, instead of refusing.
    pub clean: bool,
}

/// `run.json`: what happened in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub format: String,
    pub scenario: String,
    pub agent: String,
    /// The agent's own `--version`, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    /// The options the agent ran with, as its config.toml gave them.
    pub options: RunOptions,
    pub started_at: String,
    pub duration_ms: u64,
    pub turns: Vec<TurnRecord>,
    /// Model requests and other exchanges the agent made.
    pub requests: usize,
    /// The work directory, when it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_work: Option<PathBuf>,
    /// The frontend that drove the agent, when it is not `exec` (whose run.json stays as it always was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontend: Option<Frontend>,
    /// The frontend's transcript in the output directory (`frontend.jsonl` for app-server and tui).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
}

/// The scenario's agent options, resolved: what the agent's config.toml said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOptions {
    pub model: String,
    /// `sandbox_mode`; absent when the scenario left it to the agent's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    pub approval: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TurnRecord {
    pub turn: usize,
    /// The turn's prompt; empty for a thread-level action.
    pub prompt: String,
    /// A thread-level action of the app-server frontend (`resume`, `fork`, `compact`); absent for a prompt. (For the
    /// tui frontend a turn is an agent process: its command, exit and output, and the run's error if it failed there.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    pub program: String,
    pub args: Vec<String>,
    /// The exit code, when the agent exited by itself.
    pub exit_code: Option<i32>,
    /// True when the turn ran out of time and its process group was killed.
    pub timed_out: bool,
    pub duration_ms: u64,
    /// Files in the output directory.
    pub stdout: String,
    pub stderr: String,
    /// JSON lines of stdout, when the agent printed any (`--json` events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<String>,
    /// App-server: the thread the turn ran on and the agent's id for the turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_id: Option<String>,
    /// App-server: the status `turn/completed` gave (`completed`, `interrupted`, `failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// App-server: why the turn failed, naming the scenario, the turn and the action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RunRecord {
    /// True when every turn exited 0 in time.
    pub fn succeeded(&self) -> bool {
        self.failure().is_none()
    }

    /// What went wrong with the first turn that did not exit 0 in time (exec), or that failed or ran out of time
    /// (app-server, whose process outlives its turns), in words.
    pub fn failure(&self) -> Option<String> {
        let exec = self.frontend.is_none_or(|f| f == Frontend::Exec);
        let turn = self.turns.iter().find(|t| t.timed_out || t.error.is_some() || (exec && t.exit_code != Some(0)))?;
        if let Some(error) = &turn.error {
            return Some(error.clone());
        }
        Some(match (turn.timed_out, turn.exit_code) {
            (true, _) => format!("turn {} ran out of time", turn.turn),
            (false, Some(code)) => format!("turn {} exited {code}", turn.turn),
            (false, None) => format!("turn {} was killed by a signal", turn.turn),
        })
    }

    pub fn load(path: &Path) -> Result<RunRecord, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Server(#[from] parity_server::StartError),
    #[error("could not start the agent ({program}): {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error(transparent)]
    Output(#[from] OutputError),
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> RecordError + '_ {
    move |source| RecordError::Io { path: path.to_path_buf(), source }
}

/// Records one scenario with one agent.
pub async fn record(scenario: &Scenario, agent: &Agent, options: &RecordOptions) -> Result<RunRecord, RecordError> {
    let started = Instant::now();
    let started_at =
        jiff::Timestamp::now().round(jiff::Unit::Second).unwrap_or_else(|_| jiff::Timestamp::now()).to_string();
    crate::output::prepare(&options.out, options.clean)?;
    let server = ParityServer::scripted(scenario.script.clone())
        .captures_dir(options.out.join(CAPTURES_DIR))
        .keep_in_memory(false)
        .start()
        .await?;
    let base_url = server.base_url();
    let mut dirs = RunDirs::create(&options.work_root, scenario, &base_url).map_err(io_error(&options.work_root))?;

    let cx =
        RunContext { scenario, agent, dirs: &dirs, server: &server, base_url: &base_url, out: &options.out, started };
    let driven = drive(&cx).await?;
    server.settle(Duration::from_secs(10)).await;
    let requests = server.summaries().len();
    server.shutdown(Duration::from_secs(5)).await;

    crate::output::keep_home_files(&dirs.home, &scenario.keep_home, &options.out).map_err(io_error(&options.out))?;
    let kept_work = options.keep_work.then(|| dirs.keep());
    let record = RunRecord {
        format: RUN_FORMAT.to_string(),
        scenario: scenario.name.clone(),
        agent: agent.label().to_string(),
        agent_version: agent_version(agent).await,
        options: RunOptions {
            model: scenario.agent.model().to_string(),
            sandbox: scenario.agent.sandbox.clone(),
            approval: scenario.agent.approval().to_string(),
        },
        started_at,
        duration_ms: started.elapsed().as_millis() as u64,
        turns: driven.turns,
        requests,
        kept_work,
        frontend: (scenario.agent.frontend != Frontend::Exec).then_some(scenario.agent.frontend),
        transcript: driven.transcript,
    };
    let run_json = options.out.join(RUN_JSON);
    let text = serde_json::to_string_pretty(&record).expect("a run record serializes") + "\n";
    write_atomic(&run_json, text.as_bytes()).map_err(io_error(&run_json))?;
    Ok(record)
}

/// `codex --version` and the like; `None` for command templates.
async fn agent_version(agent: &Agent) -> Option<String> {
    let bin = match agent {
        Agent::Codex { bin } | Agent::Rcodex { bin } => bin,
        Agent::Template { .. } => return None,
    };
    let output = tokio::process::Command::new(bin).arg("--version").env_clear().output().await.ok()?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (!version.is_empty()).then_some(version)
}
