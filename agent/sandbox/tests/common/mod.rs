//! Running commands through the real launcher, bounded in time.

#![allow(dead_code, reason = "each test file uses its own part")]

use std::ffi::OsString;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcodex_sandbox::{SandboxPolicy, command_argv};

pub const LAUNCHER: &str = env!("CARGO_BIN_EXE_rcodex-sandbox-launcher");

/// How long any one sandboxed command may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A sandboxed run: how it ended and what it printed, stdout and stderr interleaved as the model reads them.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub output: String,
}

/// What runs a command: the policy, its cwd, where the command starts, its environment, and an optional
/// wrapper command line put before everything (`setpriv ...`, `unshare ...`).
pub struct Run<'a> {
    pub policy: &'a SandboxPolicy,
    pub cwd: &'a Path,
    pub workdir: Option<&'a Path>,
    pub env: Vec<(String, String)>,
    pub wrapper: Vec<String>,
}

impl<'a> Run<'a> {
    pub fn new(policy: &'a SandboxPolicy, cwd: &'a Path) -> Self {
        Run { policy, cwd, workdir: None, env: Vec::new(), wrapper: Vec::new() }
    }

    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_string(), value.into()));
        self
    }

    /// As the unprivileged user `nobody`.
    pub fn unprivileged(mut self) -> Self {
        self.wrapper = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"].map(String::from).to_vec();
        self
    }

    /// The command line, spawned but not waited for.
    pub fn spawn(&self, script: &str) -> Running {
        let argv: Vec<OsString> = ["/bin/bash", "-c", script].map(OsString::from).to_vec();
        let mut line: Vec<OsString> = self.wrapper.iter().map(OsString::from).collect();
        line.extend(command_argv(self.policy, self.cwd, Path::new(LAUNCHER), &argv));
        let (reader, writer) = std::io::pipe().unwrap();
        let mut command = Command::new(&line[0]);
        command
            .args(&line[1..])
            .current_dir(self.workdir.unwrap_or(self.cwd))
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            // Where there is no ~/.bashrc, as in upstream's recordings. Under a closed network bash takes its
            // stdin for a network connection (getpeername fails with EPERM) and would read the file.
            .env("HOME", "/nonexistent")
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C.UTF-8")
            .envs(self.policy.command_env())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(writer.try_clone().unwrap())
            .stderr(writer);
        let child = command.spawn().unwrap();
        // The parent's copies of the pipe's write end go with the command, or the output would never end.
        drop(command);
        Running { child, reader: Some(reader) }
    }

    /// Runs `script` with `bash -c` in the sandbox, and waits (at most [`DEADLINE`]).
    pub fn run(&self, script: &str) -> Outcome {
        self.spawn(script).finish()
    }
}

/// A sandboxed command under way; ended (SIGTERM, which the launcher passes on) if dropped before it is.
pub struct Running {
    pub child: Child,
    reader: Option<std::io::PipeReader>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill with the pid of our own child, not yet reaped.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
            std::thread::sleep(Duration::from_millis(500));
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Running {
    /// Waits for the command, killing it past [`DEADLINE`], and collects its output.
    pub fn finish(mut self) -> Outcome {
        let mut reader = self.reader.take().expect("finished once");
        let child = &mut self.child;
        let collector = std::thread::spawn(move || {
            let mut text = String::new();
            reader.read_to_string(&mut text).unwrap();
            text
        });
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > DEADLINE {
                let _ = child.kill();
                panic!("sandboxed command still running after {DEADLINE:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let output = collector.join().unwrap();
        use std::os::unix::process::ExitStatusExt;
        Outcome { code: status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)), output }
    }
}

/// A scratch directory outside `/tmp` (writable under workspace-write) and outside any test's workspace, as
/// upstream's recordings put theirs in `/var/tmp`.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("rcodex-sandbox-test-").tempdir_in("/var/tmp").unwrap()
}

/// A directory `nobody` may enter and write, for the unprivileged runs.
pub fn open_to_everyone(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777)).unwrap();
}
