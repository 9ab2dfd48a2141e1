//! Starting a child in its own session, with pipes or a PTY, and following its output and exit.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};

use portable_pty::{CommandBuilder, MasterPty, PtySize, native_pty_system};
use tokio::io::AsyncReadExt;
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::buffer::HeadTailBuffer;

/// Upstream's terminal size.
const PTY_SIZE: PtySize = PtySize { rows: 24, cols: 80, pixel_width: 0, pixel_height: 0 };
const READ_CHUNK: usize = 8192;

/// What the tasks following a child share with the callers waiting on it.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Bumped on every change of `state`, so waiters need no polling.
    changed: watch::Sender<()>,
}

pub(crate) struct State {
    /// Output since the last read.
    pub unread: HeadTailBuffer,
    /// All output, for the end event.
    pub transcript: HeadTailBuffer,
    /// The output (one pipe, or the PTY) reached end of file.
    pub output_closed: bool,
    /// The child's exit code, once reaped.
    pub exit_code: Option<i32>,
    /// Told every piece of output as it arrives (see [`Shared::tap`]).
    tap: Option<OutputTap>,
}

/// What [`Shared::tap`] installs.
type OutputTap = Box<dyn FnMut(&[u8]) + Send>;

impl State {
    /// The child was reaped and nothing more can be read.
    pub fn finished(&self) -> bool {
        self.exit_code.is_some() && self.output_closed
    }
}

impl Shared {
    fn new() -> Arc<Shared> {
        Arc::new(Shared {
            state: Mutex::new(State {
                unread: HeadTailBuffer::default(),
                transcript: HeadTailBuffer::default(),
                output_closed: false,
                exit_code: None,
                tap: None,
            }),
            changed: watch::Sender::new(()),
        })
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the buffers inconsistent enough to matter: keep going.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A receiver that wakes on every later change.
    pub fn subscribe(&self) -> watch::Receiver<()> {
        self.changed.subscribe()
    }

    fn update(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.state());
        self.changed.send_replace(());
    }

    fn push_output(&self, bytes: &[u8]) {
        self.update(|state| {
            state.unread.push(bytes);
            state.transcript.push(bytes);
            if let Some(tap) = state.tap.as_mut() {
                tap(bytes);
            }
        });
    }

    /// Has `tap` told every piece of output from now on, after what arrived already.
    pub fn tap(&self, mut tap: impl FnMut(&[u8]) + Send + 'static) {
        self.update(|state| {
            let so_far = state.transcript.to_bytes();
            if !so_far.is_empty() {
                tap(&so_far);
            }
            state.tap = Some(Box::new(tap));
        });
    }

    fn close_output(&self) {
        self.update(|state| state.output_closed = true);
    }

    fn set_exit(&self, code: i32) {
        self.update(|state| state.exit_code = Some(code));
    }
}

/// A started child and the handles that control it.
pub(crate) struct Child {
    /// Its pid, which is also its process group and session id.
    pub pid: i32,
    pub shared: Arc<Shared>,
    /// Bytes for the PTY; `None` without one (stdin is /dev/null).
    pub stdin: Option<mpsc::UnboundedSender<Vec<u8>>>,
    /// Kept open for the child's lifetime: closing it hangs up the terminal.
    _master: Option<Mutex<Box<dyn MasterPty + Send>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Child {
    pub fn spawn(argv: &[String], cwd: &Path, env: &HashMap<String, String>, tty: bool) -> Result<Child, String> {
        let (program, args) = argv.split_first().ok_or("missing command line for unified exec request")?;
        let child = if tty { spawn_pty(program, args, cwd, env) } else { spawn_pipes(program, args, cwd, env) };
        child.map_err(|err| format!("Failed to create unified exec process: {err}"))
    }

    /// SIGKILL to the whole process group: the child and whatever it started that stayed in its group.
    pub fn kill(&self) {
        signal_group(self.pid, libc::SIGKILL);
    }

    /// SIGINT to the process group, as ctrl-C in a terminal would.
    pub fn interrupt(&self) {
        signal_group(self.pid, libc::SIGINT);
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

fn signal_group(pid: i32, signal: libc::c_int) {
    // SAFETY: killpg only sends a signal; a group that is gone already gives ESRCH, which is fine.
    unsafe { libc::killpg(pid, signal) };
}

fn spawn_pipes(program: &str, args: &[String], cwd: &Path, env: &HashMap<String, String>) -> io::Result<Child> {
    let mut command = Command::new(program);
    command.args(args).current_dir(cwd).env_clear().envs(env);
    // One pipe for both streams, as `2>&1` would do: the output keeps the order in which the command wrote it.
    // Two pipes read by two tasks can swap an `echo out; echo oops >&2` depending on which task runs first.
    let (output, writer) = io::pipe()?;
    command.stdin(Stdio::null()).stdout(writer.try_clone()?).stderr(writer);
    // SAFETY: getpid is async-signal-safe; the closure below calls only async-signal-safe functions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: runs in the forked child before exec and only makes async-signal-safe calls.
    unsafe {
        command.pre_exec(move || {
            // Its own session and process group, detached from any terminal: the group is what kill() reaches.
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            // Ctrl-C (0x03 on stdin, sent as SIGINT to the group) must reach the command even when the agent was
            // started with SIGINT and SIGQUIT ignored (`nohup agent &` from a script), which children inherit.
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGQUIT, libc::SIG_DFL);
            // Should the agent die without cleaning up, the child gets SIGTERM rather than living on.
            if libc::getppid() != parent {
                libc::raise(libc::SIGTERM);
            }
            Ok(())
        });
    }
    let mut child = command.spawn()?;
    // The command holds the parent's copies of the write end; while they live the output never ends.
    drop(command);
    let output = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(output))?;
    let pid = i32::try_from(child.id()).expect("pids fit in i32");
    let shared = Shared::new();
    reap_in_thread(shared.clone(), move || {
        let status = child.wait()?;
        // Upstream reports death by signal N as 128 + N without a PTY.
        Ok(status.code().or_else(|| status.signal().map(|signal| 128 + signal)).unwrap_or(-1))
    })?;
    let tasks = vec![tokio::spawn(read_stream(output, shared.clone()))];
    Ok(Child { pid, shared, stdin: None, _master: None, tasks })
}

fn spawn_pty(program: &str, args: &[String], cwd: &Path, env: &HashMap<String, String>) -> io::Result<Child> {
    let pair = native_pty_system().openpty(PTY_SIZE).map_err(io::Error::other)?;
    let mut builder = CommandBuilder::new(program);
    builder.args(args);
    builder.env_clear();
    env.iter().for_each(|(key, value)| builder.env(key, value));
    // portable-pty starts the child in $HOME when cwd is not a directory; upstream (which uses it too) does the same.
    builder.cwd(cwd);
    let mut child = pair.slave.spawn_command(builder).map_err(io::Error::other)?;
    // The parent's copy of the terminal would keep it open after the child's side is gone: no end of file.
    drop(pair.slave);
    let pid = child.process_id().and_then(|pid| i32::try_from(pid).ok()).ok_or_else(|| io::Error::other("no pid"))?;
    let fd = pair.master.as_raw_fd().ok_or_else(|| io::Error::other("the PTY master has no descriptor"))?;
    // SAFETY: the AsyncFd owns the descriptor, which stays open and the same until it is dropped.
    let terminal = Arc::new(unsafe { AsyncFd::register(nonblocking_dup(fd)?) }?);
    let shared = Shared::new();
    // Upstream takes the code portable-pty reports: 1 for death by a signal.
    reap_in_thread(shared.clone(), move || Ok(child.wait()?.exit_code() as i32))?;
    let (stdin, input) = mpsc::unbounded_channel();
    let tasks = vec![
        tokio::spawn(read_terminal(terminal.clone(), shared.clone())),
        tokio::spawn(write_terminal(terminal, input)),
    ];
    Ok(Child { pid, shared, stdin: Some(stdin), _master: Some(Mutex::new(pair.master)), tasks })
}

/// Waits for the child on a thread of its own, so it is reaped whatever happens to the async runtime.
fn reap_in_thread(shared: Arc<Shared>, wait: impl FnOnce() -> io::Result<i32> + Send + 'static) -> io::Result<()> {
    std::thread::Builder::new().name("rcodex-exec-reaper".into()).spawn(move || {
        shared.set_exit(wait().unwrap_or(-1));
    })?;
    Ok(())
}

async fn read_stream(mut stream: impl tokio::io::AsyncRead + Unpin, shared: Arc<Shared>) {
    let mut buffer = vec![0u8; READ_CHUNK];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) => break,
            Ok(n) => shared.push_output(&buffer[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    shared.close_output();
}

async fn read_terminal(terminal: Arc<AsyncFd<OwnedFd>>, shared: Arc<Shared>) {
    let mut buffer = vec![0u8; READ_CHUNK];
    loop {
        let Ok(mut ready) = terminal.readable().await else { break };
        // SAFETY: reads into a buffer of the length given, from a descriptor the AsyncFd keeps open.
        match ready.try_io(|fd| fd_io(unsafe { libc::read(fd.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) }))
        {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => shared.push_output(&buffer[..n]),
            Ok(Err(err)) if err.kind() == io::ErrorKind::Interrupted => continue,
            // EIO once no process holds the terminal any more: its end of file.
            Ok(Err(_)) => break,
            Err(_would_block) => continue,
        }
    }
    shared.close_output();
}

async fn write_terminal(terminal: Arc<AsyncFd<OwnedFd>>, mut input: mpsc::UnboundedReceiver<Vec<u8>>) {
    while let Some(bytes) = input.recv().await {
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let Ok(mut ready) = terminal.writable().await else { return };
            // SAFETY: writes from a slice of the length given, to a descriptor the AsyncFd keeps open.
            match ready.try_io(|fd| fd_io(unsafe { libc::write(fd.as_raw_fd(), rest.as_ptr().cast(), rest.len()) })) {
                Ok(Ok(n)) => rest = &rest[n..],
                Ok(Err(err)) if err.kind() == io::ErrorKind::Interrupted => continue,
                // The terminal is gone; dropping `input` tells writers.
                Ok(Err(_)) => return,
                Err(_would_block) => continue,
            }
        }
    }
}

fn fd_io(result: isize) -> io::Result<usize> {
    usize::try_from(result).map_err(|_| io::Error::last_os_error())
}

/// A non-blocking duplicate of `fd`, owned, for the async reactor.
fn nonblocking_dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl on a descriptor we hold; F_DUPFD_CLOEXEC returns a new descriptor that we then own.
    let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if copy == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `copy` is a fresh descriptor owned by nobody else.
    let copy = unsafe { OwnedFd::from_raw_fd(copy) };
    // SAFETY: plain flag manipulation on a descriptor we own.
    let flags = unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_GETFL) };
    if flags == -1 || unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(copy)
}
