//! A JSON-RPC client of an agent's app server over stdio, for the benchmarks that drive one (app_server,
//! long_session): the process on a fresh isolated home, in a process group of its own killed at the end.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parity_recorder::isolate::IsolatedAgent;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;

/// The model threads are started with.
pub const MODEL: &str = "gpt-5.5";
/// How long an agent whose stdin was closed has to exit before its process group is killed.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

pub fn initialize_params() -> Value {
    json!({"clientInfo": {"name": "parity", "title": null, "version": "1.0.0"}, "capabilities": {"experimentalApi": true}})
}

/// An app-server process of a fresh isolated home, and the client side of its stdio.
pub struct AppServer {
    pub child: Child,
    pub pid: i32,
    pub stdin: Option<ChildStdin>,
    /// Messages read from its stdout, each with when it was read; `None` for a line that is not JSON.
    pub incoming: mpsc::UnboundedReceiver<(Instant, Option<Value>, String)>,
    /// Every message read so far.
    pub seen: Vec<(Instant, Value)>,
    pub stderr: Arc<Mutex<Vec<u8>>>,
    /// The method of each request sent, by id (from 1).
    pub methods: Vec<String>,
    pub spawned: Instant,
    pub workspace: String,
    /// Removed (after the process is gone) when this is dropped.
    _agent: IsolatedAgent,
}

impl AppServer {
    pub fn spawn(bin: &Path, base_url: &str) -> Result<AppServer, String> {
        Self::spawn_configured(bin, base_url, "")
    }

    /// With these top-level config.toml keys (TOML text) in its home.
    pub fn spawn_configured(bin: &Path, base_url: &str, config: &str) -> Result<AppServer, String> {
        use std::os::unix::process::CommandExt;
        let agent =
            IsolatedAgent::builder(base_url).config(config).create().map_err(|e| format!("the isolated home: {e}"))?;
        let mut command = agent.command(bin);
        command.arg("app-server").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        command.process_group(0);
        let mut command = tokio::process::Command::from(command);
        command.kill_on_drop(true);
        let spawned = Instant::now();
        let mut child = command.spawn().map_err(|e| format!("{}: {e}", bin.display()))?;
        let pid = child.id().ok_or("no pid")? as i32;
        let (tx, incoming) = mpsc::unbounded_channel();
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let at = Instant::now();
                if tx.send((at, serde_json::from_str(&line).ok(), line)).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut err = child.stderr.take().expect("piped");
        let kept = stderr.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let mut kept = kept.lock().unwrap();
                if kept.len() < 64 * 1024 {
                    kept.extend_from_slice(&buf[..n]);
                }
            }
        });
        let workspace = agent.workspace().display().to_string();
        let stdin = child.stdin.take();
        Ok(AppServer {
            child,
            pid,
            stdin,
            incoming,
            seen: Vec::new(),
            stderr,
            methods: Vec::new(),
            spawned,
            workspace,
            _agent: agent,
        })
    }

    /// The agent's `CODEX_HOME`.
    pub fn codex_home(&self) -> &Path {
        self._agent.codex_home()
    }

    /// Keeps the agent's home and workspace after it ends; returns where they are.
    pub fn keep_dirs(&mut self) -> std::path::PathBuf {
        self._agent.keep()
    }

    pub fn thread_params(&self) -> Value {
        json!({"cwd": self.workspace, "model": MODEL, "approvalPolicy": "never"})
    }

    /// Writes one message; returns when the write began.
    pub async fn send(&mut self, message: Value) -> Result<Instant, String> {
        let mut line = serde_json::to_vec(&message).expect("JSON serializes");
        line.push(b'\n');
        let stdin = self.stdin.as_mut().ok_or("stdin is closed")?;
        let at = Instant::now();
        let written = async {
            stdin.write_all(&line).await?;
            stdin.flush().await
        };
        match written.await {
            Ok(()) => Ok(at),
            Err(e) => Err(format!("writing {}: {e}{}", message["method"], self.stderr_tail())),
        }
    }

    pub async fn request_at(&mut self, method: &str, params: Value) -> Result<(u64, Instant), String> {
        self.methods.push(method.to_string());
        let id = self.methods.len() as u64;
        let at = self.send(json!({"id": id, "method": method, "params": params})).await?;
        Ok((id, at))
    }

    pub async fn request(&mut self, method: &str, params: Value) -> Result<u64, String> {
        Ok(self.request_at(method, params).await?.0)
    }

    pub async fn notify(&mut self, method: &str) -> Result<(), String> {
        self.send(json!({"method": method})).await.map(|_| ())
    }

    /// `initialize` answered, `initialized`, `thread/start` answered: the thread's id.
    pub async fn open(&mut self, deadline: Instant) -> Result<String, String> {
        let id = self.request("initialize", initialize_params()).await?;
        self.answer(id, deadline).await?;
        self.notify("initialized").await?;
        let id = self.request("thread/start", self.thread_params()).await?;
        let answer = self.answer(id, deadline).await?;
        let thread = answer.pointer("/thread/id").and_then(Value::as_str);
        Ok(thread.ok_or(format!("thread/start answered {answer}"))?.to_string())
    }

    /// The result answering request `id`; an error answer, the process ending or the deadline is an error.
    pub async fn answer(&mut self, id: u64, deadline: Instant) -> Result<Value, String> {
        let method = self.methods.get(id as usize - 1).cloned().unwrap_or_default();
        let what = format!("the answer to {method}");
        let (_, message) = self.wait_for(deadline, &what, |m| m["id"] == id && m.get("method").is_none()).await?;
        match message.get("error") {
            Some(error) => Err(format!("{method} answered with an error: {error}")),
            None => Ok(message["result"].clone()),
        }
    }

    /// The first message (read so far or to come) that `matches`, and when it was read.
    pub async fn wait_for(
        &mut self,
        deadline: Instant,
        what: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> Result<(Instant, Value), String> {
        if let Some(found) = self.seen.iter().find(|(_, m)| matches(m)) {
            return Ok(found.clone());
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.incoming.recv()).await {
                Err(_) => return Err(format!("{what} did not come within the run's time{}", self.stderr_tail())),
                Ok(None) => {
                    let status = match tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await {
                        Ok(Ok(status)) => status.to_string(),
                        _ => "its output closed".into(),
                    };
                    return Err(format!("the agent ended ({status}) before {what}{}", self.stderr_tail()));
                }
                Ok(Some((_, None, line))) => return Err(format!("a line that is not JSON before {what}: {line:.200}")),
                Ok(Some((at, Some(message), _))) => {
                    self.seen.push((at, message.clone()));
                    if matches(&message) {
                        return Ok((at, message));
                    }
                }
            }
        }
    }

    /// The first line of what the agent wrote on stderr, as a suffix.
    pub fn stderr_tail(&self) -> String {
        let kept = self.stderr.lock().unwrap();
        let text = String::from_utf8_lossy(&kept);
        let first = text.lines().map(str::trim).find(|l| !l.is_empty());
        first.map_or(String::new(), |l| format!("; stderr: {l:.300}"))
    }

    /// Closes stdin, gives the agent [`CLOSE_GRACE`] to exit, then kills its process group and reaps it.
    pub async fn finish(mut self) {
        self.stdin = None;
        let _ = tokio::time::timeout(CLOSE_GRACE, self.child.wait()).await;
        // SAFETY: kill(2) on the process group the child leads; no memory is involved.
        unsafe { libc::kill(-self.pid, libc::SIGKILL) };
        let _ = self.child.wait().await;
    }
}
