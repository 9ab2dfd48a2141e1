//! A fake OpenAI Responses API server that captures every request.
//!
//! It answers from one of three sources: a **script** ([`Script`]: what to answer to each model request, with
//! delays, holds and injected failures), a **proxy** to a real endpoint (streamed through while recorded), or a
//! **replay** of an earlier recording. Every exchange becomes a capture (see `parity-capture`).
//!
//! As a library, a test starts it in-process, points an agent at [`ParityServer::base_url`], and asserts on what
//! the agent sent:
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use parity_server::{ParityServer, Script, Step};
//! use serde_json::json;
//!
//! let server = ParityServer::scripted(
//!     Script::new()
//!         .step(Step::function_call("exec_command", json!({"cmd": "ls"})).call_id("call_1"))
//!         .step(Step::message("Done.").expect_function_call_output("call_1")),
//! )
//! .start()
//! .await?;
//!
//! // ... run the agent with base_url = server.base_url() ...
//!
//! let requests = server.captures().await;
//! assert_eq!(requests.len(), 2);
//! assert!(requests[1].request.function_call_output("call_1").is_some());
//! # Ok(()) }
//! ```

mod app;
pub mod chaos;
mod holds;
mod journal;
pub mod oauth;
mod plan;
mod proxy;
mod replay;
mod respond;
pub mod script;
mod scripted;
mod sessions;
mod verify;
mod ws;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parity_capture::{Capture, CaptureStore, Mode, Recording};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use app::{CONTROL_ROUTES, DEFAULT_MODELS, NoCapture, SetScriptError};
pub use holds::{HoldInfo, ReleasedBy};
pub use journal::{CaptureSummary, FinishHook, ResetReport, SUMMARIES_KEPT};
pub use plan::{Action, HoldPoint, Plan, PlanBody};
pub use proxy::ProxyConfig;
pub use replay::{Pace, mismatches as replay_mismatches};
pub use script::{Failure, Hold, Match, OutputItem, Script, ScriptError, Step, Until, Usage};
pub use scripted::UnusedStep;
pub use sessions::{SESSION_HEADERS, session_key};
pub use verify::{VerifyReport, Violation, check_call_invariants, check_recording};

/// Bodies larger than this are refused (and kept, cut, in the capture).
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 << 20;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Script(#[from] ScriptError),
    #[error(transparent)]
    Captures(#[from] parity_capture::store::StoreError),
    #[error("cannot replay: {0}")]
    Replay(String),
    #[error("cannot proxy: {0}")]
    Proxy(String),
    #[error("{0}")]
    Redact(String),
}

enum SourceConfig {
    Script(Script),
    Proxy(ProxyConfig),
    Replay(Recording, Pace),
}

/// Configures a server before it starts.
pub struct ServerBuilder {
    source: SourceConfig,
    listen: SocketAddr,
    captures_dir: Option<PathBuf>,
    clean: bool,
    keep_in_memory: bool,
    max_body_bytes: usize,
    pending_after: Duration,
    on_finish: Option<FinishHook>,
    redact_names: Vec<String>,
    redact_body: Vec<String>,
    chaos: Option<chaos::Chaos>,
    verify_on_drop: bool,
}

/// A running server. Dropping it stops it (and, when asked, verifies the run: see [`ParityServer::verify`]).
pub struct ParityServer {
    addr: SocketAddr,
    app: Arc<app::App>,
    verify_on_drop: bool,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl ParityServer {
    /// A server that answers from a script.
    pub fn scripted(script: impl Into<Script>) -> ServerBuilder {
        ServerBuilder::new(SourceConfig::Script(script.into()))
    }

    /// A scripted server for a test, which verifies the run when it is dropped, as wiremock's `MockServer` checks
    /// its expectations: the same as `ParityServer::scripted(script).verify_on_drop(true)`.
    pub fn verified(script: impl Into<Script>) -> ServerBuilder {
        Self::scripted(script).verify_on_drop(true)
    }

    /// A server that forwards to a real endpoint, `origin` being its base URL (e.g. `https://api.openai.com/v1`).
    pub fn proxy(config: ProxyConfig) -> ServerBuilder {
        ServerBuilder::new(SourceConfig::Proxy(config))
    }

    /// A server that replays a recording (a directory of captures, or a single capture).
    pub fn replay(recording: Recording) -> ServerBuilder {
        ServerBuilder::new(SourceConfig::Replay(recording, Pace::Fast))
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://HOST:PORT/v1`: what an agent's model provider `base_url` is set to.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.url())
    }

    pub fn mode(&self) -> Mode {
        self.app.mode
    }

    /// Every finished exchange, in arrival order, once open exchanges have ended (waiting up to 10 s for them).
    /// Only available when the server keeps captures in memory, as it does unless told otherwise.
    pub async fn captures(&self) -> Vec<Capture> {
        self.app.journal.settle(Duration::from_secs(10)).await;
        self.app.journal.captures()
    }

    /// The model requests (`POST .../responses`) among [`ParityServer::captures`].
    pub async fn model_requests(&self) -> Vec<Capture> {
        let mut captures = self.captures().await;
        captures.retain(|c| c.request.method == "POST" && c.request.path.ends_with("/responses"));
        captures
    }

    /// Summaries of every exchange so far, open ones included.
    pub fn summaries(&self) -> Vec<CaptureSummary> {
        self.app.journal.summaries()
    }

    /// Waits until at least `n` exchanges have arrived, for at most `timeout`.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.app.journal.total() < n {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// Waits until no exchange is open, for at most `timeout`.
    pub async fn settle(&self, timeout: Duration) -> bool {
        self.app.journal.settle(timeout).await
    }

    /// The streams held now.
    pub fn holds(&self) -> Vec<HoldInfo> {
        self.app.holds.list()
    }

    /// Waits until a hold of this name is in effect (the stream has stopped before its event).
    pub async fn wait_for_hold(&self, name: &str, timeout: Duration) -> Option<HoldInfo> {
        self.app.holds.wait_for(name, timeout).await
    }

    /// Releases the holds of this name (or numeric id); returns how many.
    pub fn release(&self, name: &str) -> usize {
        self.app.holds.release(Some(name))
    }

    /// Releases every hold; returns how many.
    pub fn release_all(&self) -> usize {
        self.app.holds.release(None)
    }

    /// Capture `n` (by arrival number, from 1) as it stands, redacted as on disk; the error names the captures
    /// there are. Unlike [`ParityServer::captures`] it does not wait for open exchanges.
    pub async fn capture(&self, n: u64) -> Result<Capture, NoCapture> {
        self.app.capture(n).await
    }

    /// Forgets this run, as `POST /_parity/reset` does: every capture in memory and the capture files this server
    /// wrote (no other file), session numbering, the script's positions (it starts again at step 1), and any hold
    /// (released). Exchanges still open end without being recorded.
    pub fn reset(&self) -> ResetReport {
        self.app.reset()
    }

    /// Replaces the script of a scripted server, as `POST /_parity/script` does: the script is checked as at start,
    /// then every session starts again at its first step. Captures and session numbering are kept.
    pub fn set_script(&self, script: impl Into<Script>) -> Result<(), SetScriptError> {
        self.app.set_script(script.into())
    }

    /// The steps of the script no request used so far (optional steps left out); empty outside scripted mode.
    pub fn unused_steps(&self) -> Vec<UnusedStep> {
        match &self.app.source {
            app::Source::Scripted(scripted) => scripted.unused_steps(),
            _ => Vec::new(),
        }
    }

    /// Checks the run so far, once open exchanges have ended (waiting up to 10 s for them): every step of the script
    /// was used (unless marked [`Step::optional`]), no request broke an expectation or found nothing left to answer
    /// it, and every tool call was answered by exactly one output in the session's next request, with no output
    /// for a call never made ([`check_call_invariants`]). Reads the captures kept in memory.
    pub async fn verify(&self) -> VerifyReport {
        let captures = self.captures().await;
        VerifyReport::of(self.unused_steps(), &captures)
    }

    /// Capture writes that failed so far, and the last failure.
    pub fn capture_write_errors(&self) -> (u64, Option<String>) {
        self.app.journal.write_errors()
    }

    /// Stops accepting requests, lets open exchanges end (up to `grace`), and returns.
    pub async fn shutdown(mut self, grace: Duration) {
        self.app.journal.settle(grace).await;
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(grace, task).await;
        }
    }
}

impl Drop for ParityServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        // A second panic while unwinding would abort the test process and hide the first failure.
        if self.verify_on_drop && !std::thread::panicking() {
            let report = VerifyReport::of(self.unused_steps(), &self.app.journal.captures());
            if !report.is_ok() {
                panic!("{report}");
            }
        }
    }
}

impl ServerBuilder {
    fn new(source: SourceConfig) -> Self {
        ServerBuilder {
            source,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            captures_dir: None,
            clean: false,
            keep_in_memory: true,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            pending_after: Duration::from_millis(100),
            on_finish: None,
            redact_names: Vec::new(),
            redact_body: Vec::new(),
            chaos: None,
            verify_on_drop: false,
        }
    }

    /// Verifies the run when the server is dropped, panicking with the report when it fails (never while the
    /// thread is already panicking): see [`ParityServer::verify`]. Off by default for [`ParityServer::scripted`],
    /// `proxy` and `replay`, on for [`ParityServer::verified`]. Needs the captures kept in memory.
    pub fn verify_on_drop(mut self, verify: bool) -> Self {
        self.verify_on_drop = verify;
        self
    }

    /// The address to listen on; loopback on a free port by default.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Writes every exchange under this directory, which must not already hold captures (see [`Self::clean`]).
    pub fn captures_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.captures_dir = Some(dir.into());
        self
    }

    /// Removes captures an earlier run left in the captures directory, instead of refusing to start.
    pub fn clean(mut self, clean: bool) -> Self {
        self.clean = clean;
        self
    }

    /// Keeps every capture in memory for [`ParityServer::captures`] (the default). A long-running server that
    /// writes captures to disk can turn this off to stay small.
    pub fn keep_in_memory(mut self, keep: bool) -> Self {
        self.keep_in_memory = keep;
        self
    }

    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Replay pace (replay mode only).
    pub fn pace(mut self, pace: Pace) -> Self {
        if let SourceConfig::Replay(_, p) = &mut self.source {
            *p = pace;
        }
        self
    }

    /// Also redacts headers and query parameters of these names (matched whole, ignoring case), on top of the
    /// built-in rules (see `docs/capture-format.md`).
    pub fn redact_names(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.redact_names.extend(names.into_iter().map(Into::into));
        self
    }

    /// Also redacts every match of these regular expressions in request bodies before they are kept (bodies are
    /// otherwise kept as sent; a body that looks like it holds a credential is warned of when captures go to disk).
    pub fn redact_body(mut self, patterns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.redact_body.extend(patterns.into_iter().map(Into::into));
        self
    }

    /// Scripted mode: injects seeded faults into a fraction of the model requests ([`chaos`]), over the script's own
    /// `chaos` setting.
    pub fn chaos(mut self, chaos: chaos::Chaos) -> Self {
        self.chaos = Some(chaos);
        self
    }

    /// Called with each finished exchange.
    pub fn on_finish(mut self, hook: impl Fn(&Capture) + Send + Sync + 'static) -> Self {
        self.on_finish = Some(Arc::new(hook));
        self
    }

    /// An exchange still open after this long is written early, with outcome `pending` (100 ms by default).
    pub fn pending_after(mut self, after: Duration) -> Self {
        self.pending_after = after;
        self
    }

    /// Checks the configuration, binds, and starts serving.
    pub async fn start(self) -> Result<ParityServer, StartError> {
        let mut chaos = self.chaos;
        let (source, mode) = match self.source {
            SourceConfig::Script(script) => {
                script.validate()?;
                chaos = chaos.or(script.chaos);
                (app::Source::Scripted(scripted::Scripted::new(script)), Mode::Scripted)
            }
            SourceConfig::Proxy(config) => {
                let proxy = proxy::Proxy::new(config, self.max_body_bytes).map_err(StartError::Proxy)?;
                (app::Source::Proxy(proxy), Mode::Proxy)
            }
            SourceConfig::Replay(recording, pace) => {
                if recording.is_empty() {
                    return Err(StartError::Replay(format!("{}: no captures to replay", recording.root.display())));
                }
                (app::Source::Replay(replay::Replay::new(recording, pace)), Mode::Replay)
            }
        };
        let store = match self.captures_dir {
            Some(dir) => Some(CaptureStore::open(dir, self.clean)?),
            None => None,
        };
        let redactor = parity_capture::redact::Redactor::with_names(&self.redact_names)
            .with_body_patterns(&self.redact_body)
            .map_err(StartError::Redact)?;
        let journal = journal::Journal::new(store, self.keep_in_memory, self.pending_after, self.on_finish, redactor);
        let listener =
            TcpListener::bind(self.listen).await.map_err(|source| StartError::Bind { addr: self.listen, source })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: self.listen, source })?;
        let app = Arc::new(app::App {
            source,
            mode,
            sessions: sessions::Sessions::new(),
            holds: Arc::new(holds::Holds::new()),
            journal: Arc::new(journal),
            max_body_bytes: self.max_body_bytes,
            started: Instant::now(),
            ws_connections: std::sync::atomic::AtomicU64::new(0),
            chaos,
        });
        let router = app::router(app.clone());
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        // Stream events are small writes: without TCP_NODELAY each would wait for the previous one's ACK.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = shutdown_rx.await;
                })
                .await
        });
        Ok(ParityServer {
            addr,
            app,
            verify_on_drop: self.verify_on_drop,
            shutdown: Some(shutdown_tx),
            task: Some(task),
        })
    }
}
