//! Recording one scenario: a scripted server in-process, an isolated run, the agent turn by turn under a timeout,
//! and everything kept: captures, stdout, stderr, JSONL events, exit statuses.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use parity_capture::store::write_atomic;
use parity_server::ParityServer;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use crate::agent::{Agent, TurnSpec};
use crate::isolate::RunDirs;
use crate::output::{OutputError, RUN_JSON};
use crate::scenario::Scenario;

/// The versioned format name of `run.json`.
pub const RUN_FORMAT: &str = "parity.run/v1";
/// Where a run's captures go, inside its output directory.
pub const CAPTURES_DIR: &str = "captures";
/// After a turn's time is up: SIGTERM, then this long before SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnRecord {
    pub turn: usize,
    pub prompt: String,
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
}

impl RunRecord {
    /// True when every turn exited 0 in time.
    pub fn succeeded(&self) -> bool {
        self.failure().is_none()
    }

    /// What went wrong with the first turn that did not exit 0 in time, in words.
    pub fn failure(&self) -> Option<String> {
        let turn = self.turns.iter().find(|t| t.exit_code != Some(0) || t.timed_out)?;
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

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> RecordError + '_ {
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

    let mut turns = Vec::new();
    for spec in dirs.turns(scenario, &base_url) {
        let turn = run_turn(agent, &spec, &dirs, scenario.agent.timeout(), &options.out).await?;
        let failed = turn.timed_out;
        turns.push(turn);
        if failed {
            break; // the session is in an unknown state: later turns would record noise
        }
    }
    server.settle(Duration::from_secs(10)).await;
    let requests = server.summaries().len();
    server.shutdown(Duration::from_secs(5)).await;

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
        turns,
        requests,
        kept_work,
    };
    let run_json = options.out.join(RUN_JSON);
    let text = serde_json::to_string_pretty(&record).expect("a run record serializes") + "\n";
    write_atomic(&run_json, text.as_bytes()).map_err(io_error(&run_json))?;
    Ok(record)
}

async fn run_turn(
    agent: &Agent,
    spec: &TurnSpec<'_>,
    dirs: &RunDirs,
    timeout: Duration,
    out: &Path,
) -> Result<TurnRecord, RecordError> {
    let (program, args) = agent.command(spec);
    let mut command = tokio::process::Command::new(&program);
    command
        .args(&args)
        .current_dir(&dirs.workspace)
        .env_clear()
        .envs(dirs.env(spec.base_url, spec.turn))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that everything it starts can be killed with it.
        .process_group(0)
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = command.spawn().map_err(|source| RecordError::Spawn { program: program.clone(), source })?;
    let group = child.id().map(|id| id as i32);
    let stdout = tokio::spawn(read_all(child.stdout.take()));
    let stderr = tokio::spawn(read_all(child.stderr.take()));

    let (exit_code, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => (status.ok().and_then(|s| s.code()), false),
        Err(_) => {
            signal_group(group, libc::SIGTERM);
            if tokio::time::timeout(KILL_GRACE, child.wait()).await.is_err() {
                signal_group(group, libc::SIGKILL);
                let _ = child.wait().await;
            }
            (None, true)
        }
    };
    // Whatever the agent left running (a shell it spawned, a background job) goes with it.
    signal_group(group, libc::SIGKILL);
    let duration_ms = started.elapsed().as_millis() as u64;
    let stdout = stdout.await.unwrap_or_default();
    let stderr = stderr.await.unwrap_or_default();

    let dir = format!("turn-{}", spec.turn);
    let write = |name: &str, bytes: &[u8]| -> Result<String, RecordError> {
        let relative = format!("{dir}/{name}");
        let path = out.join(&relative);
        write_atomic(&path, bytes).map_err(io_error(&path))?;
        Ok(relative)
    };
    let events: Vec<&str> = std::str::from_utf8(&stdout)
        .unwrap_or_default()
        .lines()
        .filter(|line| line.starts_with('{') && serde_json::from_str::<serde_json::Value>(line).is_ok())
        .collect();
    Ok(TurnRecord {
        turn: spec.turn,
        prompt: spec.prompt.to_string(),
        program,
        args,
        exit_code,
        timed_out,
        duration_ms,
        stdout: write("stdout.txt", &stdout)?,
        stderr: write("stderr.txt", &stderr)?,
        events: if events.is_empty() {
            None
        } else {
            Some(write("events.jsonl", (events.join("\n") + "\n").as_bytes())?)
        },
    })
}

async fn read_all(pipe: Option<impl tokio::io::AsyncRead + Unpin>) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_end(&mut bytes).await;
    }
    bytes
}

fn signal_group(group: Option<i32>, signal: i32) {
    if let Some(group) = group.filter(|g| *g > 0) {
        // SAFETY: kill(2) with a negative pid signals the process group the agent leads; no memory is involved.
        unsafe {
            libc::kill(-group, signal);
        }
    }
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
