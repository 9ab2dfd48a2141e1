//! What the SDK client tests share: which agent binary they drive (`PARITY_SDK_AGENT`), where the SDKs are installed
//! (`scripts/install-test-deps.sh` puts them in `.venv-sdk/` and `.sdk-node/`), running a driver of `tests/sdk/`
//! with a deadline, and reading what it printed.
//!
//! A test skips, saying why, only when what it needs is absent outside CI (no SDK installed, upstream not
//! installable); under CI (`CI` set, as `.ci/run` sets it, and `scripts/test.sh` installs the SDKs first) it fails.

#![allow(dead_code)] // each test file uses its part

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use parity_e2e::{Run, bin, repo};
use serde_json::Value;

/// The agent binary an SDK drives, and which one it is.
pub struct Agent {
    pub name: String,
    pub bin: PathBuf,
}

/// True under CI, where a missing SDK or upstream is a failure rather than a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Skips (prints the reason, returns `None`) outside CI; panics with it under CI.
pub fn skip<T>(reason: &str) -> Option<T> {
    assert!(!in_ci(), "{reason} (under CI this is a failure: scripts/test.sh installs what the SDK tests need)");
    eprintln!("SKIPPED: {reason}");
    None
}

/// The agent `PARITY_SDK_AGENT` names: `upstream` (the pinned Codex, installed by `scripts/install-upstream.sh`),
/// `rcodex` (this workspace's), or a path to any binary; `default` when it is unset.
pub fn agent(default: &str) -> Option<Agent> {
    let chosen = std::env::var("PARITY_SDK_AGENT").ok().filter(|v| !v.is_empty()).unwrap_or(default.to_string());
    match chosen.as_str() {
        "rcodex" => Some(Agent { name: chosen.clone(), bin: bin("rcodex") }),
        "upstream" | "codex" => {
            // The tests of one binary run at once: one installs, the others then find it installed.
            static INSTALL: Mutex<()> = Mutex::new(());
            let _one_at_a_time = INSTALL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let output = Command::new(repo().join("scripts/install-upstream.sh")).output().expect("the script runs");
            match output.status.code() {
                Some(0) => Some(Agent {
                    name: "upstream".to_string(),
                    bin: PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()),
                }),
                Some(3) => skip(&format!(
                    "upstream Codex could not be installed, so this test did not run: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                )),
                other => panic!(
                    "scripts/install-upstream.sh failed ({other:?}): {}",
                    String::from_utf8_lossy(&output.stderr)
                ),
            }
        }
        path => {
            let bin = PathBuf::from(path);
            assert!(bin.is_file(), "PARITY_SDK_AGENT={path}: neither upstream, rcodex nor a file");
            Some(Agent { name: path.to_string(), bin })
        }
    }
}

/// The virtual environment's python, with both Python SDKs.
pub fn python() -> Option<PathBuf> {
    let python = repo().join(".venv-sdk/bin/python");
    if python.is_file() {
        Some(python)
    } else {
        skip(&format!("{} is missing: run scripts/install-test-deps.sh", python.display()))
    }
}

/// The folder whose node_modules holds `@openai/codex-sdk`, and node itself.
pub fn node() -> Option<(PathBuf, PathBuf)> {
    let dir = repo().join(".sdk-node");
    if !dir.join("node_modules/@openai/codex-sdk/package.json").is_file() {
        return skip(&format!(
            "@openai/codex-sdk is not installed in {}: run scripts/install-test-deps.sh",
            dir.display()
        ));
    }
    let found = ["/usr/bin/node", "/usr/local/bin/node"].iter().map(PathBuf::from).find(|p| p.is_file());
    match found {
        Some(node) => Some((node, dir)),
        None => skip("node is not installed"),
    }
}

/// A driver script of `tests/sdk/`.
pub fn driver(name: &str) -> PathBuf {
    repo().join("tests/sdk").join(name)
}

/// What a driver printed: its flows (`{"flows": {name: {"ok", "result" | "error", "trace", "seconds"}}}`) and stderr.
pub struct Driven {
    pub flows: Value,
    pub stderr: String,
    pub stdout: String,
}

impl Driven {
    /// A flow's result; panics with the flow's error, the driver's stderr and the requests' story when it failed.
    pub fn ok(&self, flow: &str) -> &Value {
        let f = &self.flows[flow];
        assert!(
            f["ok"] == true,
            "flow `{flow}` failed: {}\n{}\ndriver stderr:\n{}",
            f["error"].as_str().unwrap_or("(it did not run: an earlier flow failed)"),
            f["trace"].as_str().unwrap_or_default(),
            tail(&self.stderr, 6000)
        );
        &f["result"]
    }
}

fn tail(text: &str, n: usize) -> &str {
    let start = text.len().saturating_sub(n);
    let start = (start..text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
    &text[start..]
}

/// Runs `program args` in the run's isolated environment (its HOME, CODEX_HOME, workspace, the provider's key)
/// plus `env`, within `deadline`: past it the driver's whole process group (the SDK's agent with it) is killed and
/// the test fails, saying so.
pub async fn drive(run: &Run, program: &Path, args: &[&str], env: &[(&str, String)], deadline: Duration) -> Driven {
    let mut command = run.agent.command(program);
    command.args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    for (key, value) in env {
        command.env(key, value);
    }
    let shown = format!("{} {}", program.display(), args.join(" "));
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().unwrap_or_else(|e| panic!("{shown}: {e}"));
        let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("the driver can be waited for") {
                break Some(status);
            }
            if started.elapsed() > deadline {
                // SAFETY: killpg on the group this test made for the driver (process_group(0) above).
                unsafe { libc::killpg(child.id() as i32, libc::SIGKILL) };
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
        let Some(status) = status else {
            panic!(
                "{shown} ran past its deadline of {deadline:?} and was killed\nstdout:\n{stdout}\nstderr:\n{}",
                tail(&stderr, 6000)
            );
        };
        let flows = stdout
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str::<Value>(l).ok().filter(|v| v.get("flows").is_some()))
            .unwrap_or_else(|| {
                panic!("{shown} printed no report ({status})\nstdout:\n{stdout}\nstderr:\n{}", tail(&stderr, 6000))
            });
        Driven { flows: flows["flows"].clone(), stderr, stdout }
    })
    .await
    .expect("the driver's thread ends")
}

/// The message items of a request's input, as (role, text of every content part joined).
pub fn messages(request: &parity_capture::CapturedRequest) -> Vec<(String, String)> {
    request
        .input()
        .iter()
        .filter(|i| i["type"] == "message")
        .map(|i| {
            let text = match &i["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join(""),
                _ => String::new(),
            };
            (i["role"].as_str().unwrap_or_default().to_string(), text)
        })
        .collect()
}

/// The model request whose last user message contains `text` (panics, listing what was sent, when none does).
pub fn request_for<'a>(captures: &'a [parity_capture::Capture], text: &str) -> &'a parity_capture::Capture {
    captures
        .iter()
        .find(|c| {
            messages(&c.request).iter().rev().find(|(role, _)| role == "user").is_some_and(|(_, t)| t.contains(text))
        })
        .unwrap_or_else(|| {
            let lasts: Vec<String> = captures
                .iter()
                .map(|c| messages(&c.request).last().map(|(r, t)| format!("{r}: {t}")).unwrap_or_default())
                .collect();
            panic!("no model request ends with a user message containing {text:?}; the requests end with: {lasts:#?}")
        })
}

/// The position of the first message of `role` containing `text`, in a request's messages.
pub fn position(messages: &[(String, String)], role: &str, text: &str) -> Option<usize> {
    messages.iter().position(|(r, t)| r == role && t.contains(text))
}
