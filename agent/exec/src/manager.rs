//! Sessions: commands that outlive the call that started them, kept for `write_stdin`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::buffer::HeadTailBuffer;
use crate::denial::looks_like_sandbox_denial;
use crate::event::{CommandInfo, ExecEvent};
use crate::output::ExecOutput;
use crate::process::{Child, Shared, State};
use crate::shell::display_command;
use crate::{
    DEFAULT_EXEC_YIELD, DEFAULT_MAX_OUTPUT_TOKENS, EARLY_EXIT_GRACE, MAX_EMPTY_POLL, MAX_SESSIONS, MAX_YIELD,
    MIN_EMPTY_POLL, MIN_YIELD, PROTECTED_SESSIONS,
};

/// Once the child is reaped, how long output may still arrive (a background process can hold the output open).
const POST_EXIT_WAIT: Duration = Duration::from_millis(50);
/// The same, for the end event, which waits a little longer for the transcript to be complete.
const END_EVENT_WAIT: Duration = Duration::from_millis(100);
/// After writing to a PTY, a pause before collecting output, so the program's reaction is likely in it.
const WRITE_SETTLE: Duration = Duration::from_millis(100);
/// How long [`ExecManager::terminate_all`] waits for killed children to be reaped.
const REAP_WAIT: Duration = Duration::from_secs(5);
/// What ctrl-C sends; the only input a session without a PTY takes (as SIGINT to its process group).
const CTRL_C: &str = "\u{3}";

/// A command to start.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    /// The program and its arguments, already final (a shell invocation from [`crate::Shell::argv`], possibly wrapped
    /// by a sandbox).
    pub argv: Vec<String>,
    /// How the command is shown in events: by default [`display_command`] of `argv`; set it to the unwrapped argv's
    /// when `argv` is a sandbox wrapper.
    pub command: String,
    pub cwd: PathBuf,
    /// The child's whole environment: nothing else is inherited.
    pub env: HashMap<String, String>,
    /// A PTY (stdin open, output with `\r\n`, echo) instead of pipes (stdin closed, stdout and stderr merged).
    pub tty: bool,
    /// How long to wait for output before answering; clamped to 250 ms ..= 30 s.
    pub yield_time: Duration,
    /// The budget of the model-facing text.
    pub max_output_tokens: usize,
    /// The tool call, named in events.
    pub call_id: String,
    /// The command runs in a sandbox: when it fails within [`EARLY_EXIT_GRACE`] in a way that reads as the sandbox's
    /// refusal ([`crate::looks_like_sandbox_denial`]), its output is returned as usual but no event is sent for it,
    /// as upstream shows no item for such a command.
    pub sandboxed: bool,
}

impl ExecRequest {
    /// `argv` in `cwd`, with an empty environment, pipes, the default yield time (10 s) and budget (10 000 tokens).
    pub fn new(argv: Vec<String>, cwd: impl Into<PathBuf>) -> ExecRequest {
        ExecRequest {
            command: display_command(&argv),
            argv,
            cwd: cwd.into(),
            env: HashMap::new(),
            tty: false,
            yield_time: DEFAULT_EXEC_YIELD,
            max_output_tokens: DEFAULT_MAX_OUTPUT_TOKENS,
            call_id: String::new(),
            sandboxed: false,
        }
    }
}

/// Input for a session, or a poll when `chars` is empty.
#[derive(Debug, Clone)]
pub struct WriteRequest {
    pub session_id: i32,
    pub chars: String,
    /// Clamped to 250 ms ..= 30 s after a write, to 5 s ..= 300 s for a poll.
    pub yield_time: Duration,
    pub max_output_tokens: usize,
}

/// Why a call did not reach a process. The `Display` texts are upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// The process could not be started: `Failed to create unified exec process: <why>`.
    #[error("{0}")]
    Spawn(String),
    #[error("Unknown process id {0}")]
    UnknownSession(i32),
    #[error("stdin is closed for this session; rerun exec_command with tty=true to keep stdin open")]
    StdinClosed,
    #[error("failed to write to stdin")]
    WriteFailed,
}

/// Runs commands and keeps those still running as sessions (at most 64, evicting the least recently used), each in
/// its own process group. Dropping the manager kills every session's process group; [`ExecManager::terminate_all`]
/// does so and also waits for the children to be reaped.
pub struct ExecManager {
    sessions: Mutex<HashMap<i32, Arc<Session>>>,
    events: Option<mpsc::UnboundedSender<ExecEvent>>,
    /// Whether output is sent as events as it arrives.
    stream_output: bool,
}

struct Session {
    child: Child,
    end: Arc<EndReport>,
    /// Held through a `write_stdin`: calls on one session take turns, and a session in use is not evicted.
    interaction: tokio::sync::Mutex<()>,
    last_used: Mutex<Instant>,
}

/// Sends a command's end event exactly once, whoever notices the end first.
struct EndReport {
    info: CommandInfo,
    started: Instant,
    sent: AtomicBool,
    events: Option<mpsc::UnboundedSender<ExecEvent>>,
}

impl EndReport {
    /// Sends the end event unless it was sent already; `output` is computed only then.
    fn send(&self, exit_code: i32, output: impl FnOnce() -> String) {
        if self.sent.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(events) = &self.events {
            let _ = events.send(ExecEvent::ended(&self.info, output(), exit_code, self.started.elapsed()));
        }
    }
}

/// Turns output bytes into text events, keeping a character cut between two reads for the next piece.
fn output_events(info: CommandInfo, events: mpsc::UnboundedSender<ExecEvent>) -> impl FnMut(&[u8]) + Send + 'static {
    let mut pending: Vec<u8> = Vec::new();
    move |bytes| {
        pending.extend_from_slice(bytes);
        let cut = match std::str::from_utf8(&pending) {
            Ok(_) => pending.len(),
            // An incomplete character at the end waits for the rest; anything else invalid is replaced.
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => pending.len(),
        };
        let text = String::from_utf8_lossy(&pending[..cut]).into_owned();
        pending.drain(..cut);
        if !text.is_empty() {
            let _ = events.send(ExecEvent::output(&info, text));
        }
    }
}

/// Everything the child printed, as text.
fn transcript(shared: &Shared) -> String {
    String::from_utf8_lossy(&shared.state().transcript.to_bytes()).into_owned()
}

impl Session {
    fn shared(&self) -> &Shared {
        &self.child.shared
    }

    fn exit_code(&self) -> Option<i32> {
        self.shared().state().exit_code
    }

    fn last_used(&self) -> Instant {
        *lock(&self.last_used)
    }

    /// Kills the process group; the end event, if not sent yet, says -1 (upstream's code for a command it killed).
    fn terminate(&self) {
        self.child.kill();
        self.end.send(-1, || transcript(self.shared()));
    }
}

impl Default for ExecManager {
    fn default() -> Self {
        ExecManager::new()
    }
}

impl ExecManager {
    /// A manager whose commands send no events.
    pub fn new() -> ExecManager {
        ExecManager { sessions: Mutex::new(HashMap::new()), events: None, stream_output: false }
    }

    /// A manager that sends each command's start and end to `events` (see [`ExecEvent`]).
    pub fn with_events(events: mpsc::UnboundedSender<ExecEvent>) -> ExecManager {
        ExecManager { sessions: Mutex::new(HashMap::new()), events: Some(events), stream_output: false }
    }

    /// Also sends each command's output as it arrives (events with `output_delta`).
    pub fn stream_output(mut self) -> ExecManager {
        self.stream_output = true;
        self
    }

    /// Starts a command and waits for its output until it exits or the yield time is up. A command still running
    /// then becomes a session, whose id the output carries; one that exited is reported with its exit code.
    pub async fn exec_command(&self, request: ExecRequest) -> Result<ExecOutput, ExecError> {
        // As upstream: the process id is drawn when the command starts, and is its session id if it becomes one.
        let info = CommandInfo {
            call_id: request.call_id.clone(),
            command: request.command.clone(),
            cwd: request.cwd.clone(),
            process_id: self.unused_id(),
        };
        let end = Arc::new(EndReport {
            info: info.clone(),
            started: Instant::now(),
            sent: AtomicBool::new(false),
            events: self.events.clone(),
        });
        let announce = || {
            if let Some(events) = &self.events {
                let _ = events.send(ExecEvent::started(&info));
            }
        };
        let child = Child::spawn(&request.argv, &request.cwd, &request.env, request.tty).map_err(|message| {
            announce();
            end.send(-1, || message.clone());
            ExecError::Spawn(message)
        })?;
        let session = Arc::new(Session {
            child,
            end,
            interaction: tokio::sync::Mutex::new(()),
            last_used: Mutex::new(Instant::now()),
        });

        // Upstream starts the clock once the command has exited or run for the grace period: a quick command
        // reports a wall time of about 0. It shows the command only then, once it has judged a quick failure.
        wait_until(session.shared(), Some(Instant::now() + EARLY_EXIT_GRACE), |state| state.exit_code.is_some()).await;
        if request.sandboxed
            && let Some(code) = session.exit_code()
        {
            wait_until(session.shared(), Some(Instant::now() + POST_EXIT_WAIT), State::finished).await;
            if looks_like_sandbox_denial(code, &transcript(session.shared())) {
                // Told to the model, never shown: no start, no output, no end.
                session.end.sent.store(true, Ordering::Release);
                let collected = session.shared().state().unread.take();
                return Ok(ExecOutput::new(collected, Duration::ZERO, Some(code), None, request.max_output_tokens));
            }
        }
        announce();
        if let Some(events) = self.events.clone().filter(|_| self.stream_output) {
            // What was printed so far goes first.
            session.shared().tap(output_events(info.clone(), events));
        }
        tokio::spawn(report_end(session.child.shared.clone(), session.end.clone()));
        // Stored before waiting, so that a cancelled call (an interrupted turn) leaves the session running.
        let stored = session.exit_code().is_none().then(|| self.store(session.clone(), info.process_id));
        let start = Instant::now();
        let collected = collect(session.shared(), start + request.yield_time.clamp(MIN_YIELD, MAX_YIELD)).await;
        let wall_time = start.elapsed();
        if let Some(id) = stored.filter(|&id| !self.holds(id, &session)) {
            // Evicted or terminated while the call waited.
            return Err(ExecError::UnknownSession(id));
        }
        let exit_code = self.settle(stored, &session);
        let session_id = stored.filter(|_| exit_code.is_none());
        Ok(ExecOutput::new(collected, wall_time, exit_code, session_id, request.max_output_tokens))
    }

    /// Writes `chars` to a session (an empty `chars` polls) and collects what it printed since the last read, until it
    /// exits or the yield time is up. A session that exited is forgotten after reporting its exit code.
    pub async fn write_stdin(&self, request: WriteRequest) -> Result<ExecOutput, ExecError> {
        let id = request.session_id;
        let session = self.get(id).ok_or(ExecError::UnknownSession(id))?;
        let _turn = session.interaction.lock().await;
        if !self.holds(id, &session) {
            return Err(ExecError::UnknownSession(id));
        }
        *lock(&session.last_used) = Instant::now();

        if !request.chars.is_empty() {
            match &session.child.stdin {
                None if request.chars == CTRL_C => session.child.interrupt(),
                None => return Err(ExecError::StdinClosed),
                Some(stdin) => match stdin.send(request.chars.clone().into_bytes()) {
                    Ok(()) => tokio::time::sleep(WRITE_SETTLE).await,
                    Err(_) if session.exit_code().is_some() => {}
                    Err(_) => return Err(ExecError::WriteFailed),
                },
            }
        }

        let yield_time = request.yield_time.max(MIN_YIELD);
        let yield_time = if request.chars.is_empty() {
            yield_time.clamp(MIN_EMPTY_POLL, MAX_EMPTY_POLL)
        } else {
            yield_time.min(MAX_YIELD)
        };
        let start = Instant::now();
        let collected = collect(session.shared(), start + yield_time).await;
        let wall_time = start.elapsed();
        let exit_code = self.settle(Some(id), &session);
        let session_id = exit_code.is_none().then_some(id);
        Ok(ExecOutput::new(collected, wall_time, exit_code, session_id, request.max_output_tokens))
    }

    /// Whether a session has this id (it may have exited without being polled since).
    pub fn has_session(&self, session_id: i32) -> bool {
        lock(&self.sessions).contains_key(&session_id)
    }

    /// The ids of the sessions held, in no particular order.
    pub fn session_ids(&self) -> Vec<i32> {
        lock(&self.sessions).keys().copied().collect()
    }

    /// Kills one session's process group and forgets it; `false` when there is no such session.
    pub fn terminate(&self, session_id: i32) -> bool {
        let session = lock(&self.sessions).remove(&session_id);
        session.inspect(|session| session.terminate()).is_some()
    }

    /// Kills every session's process group (upstream does so when `codex exec` ends), then waits up to 5 s for the
    /// children to be reaped.
    pub async fn terminate_all(&self) {
        let sessions: Vec<_> = lock(&self.sessions).drain().map(|(_, session)| session).collect();
        sessions.iter().for_each(|session| session.terminate());
        let deadline = Instant::now() + REAP_WAIT;
        for session in &sessions {
            wait_until(session.shared(), Some(deadline), |state| state.exit_code.is_some()).await;
        }
    }

    /// The exit code once the child is reaped, its session forgotten and its end event sent; `None` while it runs.
    fn settle(&self, id: Option<i32>, session: &Arc<Session>) -> Option<i32> {
        let code = session.exit_code()?;
        if let Some(id) = id {
            self.remove(id, session);
        }
        session.end.send(code, || transcript(session.shared()));
        Some(code)
    }

    fn get(&self, id: i32) -> Option<Arc<Session>> {
        lock(&self.sessions).get(&id).cloned()
    }

    fn holds(&self, id: i32, session: &Arc<Session>) -> bool {
        lock(&self.sessions).get(&id).is_some_and(|held| Arc::ptr_eq(held, session))
    }

    fn remove(&self, id: i32, session: &Arc<Session>) {
        let mut sessions = lock(&self.sessions);
        if sessions.get(&id).is_some_and(|held| Arc::ptr_eq(held, session)) {
            sessions.remove(&id);
        }
    }

    /// A random id no session has (upstream's range: 1000 to 99 999).
    fn unused_id(&self) -> i32 {
        let sessions = lock(&self.sessions);
        random_unused(&sessions)
    }

    /// Keeps a session under `preferred` (its process id), or a new random id should another session have taken it
    /// meanwhile, evicting one first when 64 are held.
    fn store(&self, session: Arc<Session>, preferred: i32) -> i32 {
        let mut sessions = lock(&self.sessions);
        let evicted = if sessions.len() >= MAX_SESSIONS {
            eviction_candidate(&sessions).and_then(|id| sessions.remove(&id))
        } else {
            None
        };
        let id = if sessions.contains_key(&preferred) { random_unused(&sessions) } else { preferred };
        sessions.insert(id, session);
        drop(sessions);
        if let Some(evicted) = evicted {
            evicted.terminate();
        }
        id
    }
}

impl Drop for ExecManager {
    fn drop(&mut self) {
        // The children are reaped by their own threads; a session still used elsewhere is killed all the same.
        lock(&self.sessions).drain().for_each(|(_, session)| session.terminate());
    }
}

fn random_unused(sessions: &HashMap<i32, Arc<Session>>) -> i32 {
    std::iter::repeat_with(|| fastrand::i32(1_000..100_000))
        .find(|id| !sessions.contains_key(id))
        .expect("an unused id")
}

/// Upstream's choice: never one of the 8 most recently used, nor one in use; an exited one first, the least
/// recently used otherwise. `None` lets the store go over the cap.
fn eviction_candidate(sessions: &HashMap<i32, Arc<Session>>) -> Option<i32> {
    let mut by_use: Vec<(i32, Instant, &Arc<Session>)> =
        sessions.iter().map(|(id, session)| (*id, session.last_used(), session)).collect();
    by_use.sort_by_key(|&(_, last_used, _)| last_used);
    let candidates: Vec<_> = by_use[..by_use.len().saturating_sub(PROTECTED_SESSIONS)]
        .iter()
        .filter(|(_, _, session)| session.interaction.try_lock().is_ok())
        .collect();
    candidates
        .iter()
        .find(|(_, _, session)| session.exit_code().is_some())
        .or_else(|| candidates.first())
        .map(|(id, _, _)| *id)
}

/// Collects output until `deadline`, or until the child is reaped and its output closed; output left open after the
/// exit (by a background process) gets [`POST_EXIT_WAIT`] more at most.
async fn collect(shared: &Shared, deadline: Instant) -> HeadTailBuffer {
    if wait_until(shared, Some(deadline), |state| state.exit_code.is_some()).await {
        let post_exit = (Instant::now() + POST_EXIT_WAIT).min(deadline);
        wait_until(shared, Some(post_exit), State::finished).await;
    }
    shared.state().unread.take()
}

/// Sends the end event when the child exits on its own, its output complete or not after [`END_EVENT_WAIT`].
async fn report_end(shared: Arc<Shared>, end: Arc<EndReport>) {
    if wait_until(&shared, None, |state| state.exit_code.is_some()).await {
        wait_until(&shared, Some(Instant::now() + END_EVENT_WAIT), State::finished).await;
        let code = shared.state().exit_code.expect("reaped");
        end.send(code, || transcript(&shared));
    }
}

/// Waits until `done` holds for the child's state (`true`) or `deadline` passes (`false`).
async fn wait_until(shared: &Shared, deadline: Option<Instant>, done: impl Fn(&State) -> bool) -> bool {
    let mut changes = shared.subscribe();
    loop {
        changes.borrow_and_update();
        if done(&shared.state()) {
            return true;
        }
        let timeout = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return done(&shared.state()) },
            () = timeout => return done(&shared.state()),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
