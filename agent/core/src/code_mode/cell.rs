//! One `exec` cell: a Node.js process running `runtime.js` on the model's script, and the JSON lines between them.
//!
//! Upstream evaluates the script in a V8 isolate of its own; Node.js embeds V8, so the errors, stacks and JSON the
//! model reads are V8's own. Each cell is a process: a fresh isolate, and a cell that will not stop is killed.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;

use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

const RUNTIME: &str = include_str!("runtime.js");

/// The program that runs cells: `RCODEX_NODE`, else `node` from `PATH`.
fn node_program() -> OsString {
    std::env::var_os("RCODEX_NODE").unwrap_or_else(|| "node".into())
}

/// A tool the script can call as `tools.<name>(...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NestedTool {
    pub name: String,
    /// What `ALL_TOOLS` says of it: its section of the `exec` description.
    pub description: String,
    /// Takes a string (a freeform tool such as `apply_patch`) rather than an object.
    pub freeform: bool,
}

/// What a running cell says.
#[derive(Debug, Clone, PartialEq)]
pub enum CellEvent {
    /// A content item for the model (`text()`, `image()`...).
    Item(Value),
    /// `yield_control()`.
    Yield,
    ToolCall {
        id: String,
        name: String,
        input: Option<Value>,
    },
    /// `notify()`: an extra output of the `exec` call, at once.
    Notify(String),
    /// The script ended, with its error's text if it failed, and the values it stored.
    Done {
        error: Option<String>,
        writes: Map<String, Value>,
    },
}

pub struct Cell {
    /// Killed when the cell is dropped (terminated, or its session ends).
    _child: Child,
    stdin: ChildStdin,
    events: mpsc::UnboundedReceiver<CellEvent>,
}

impl Cell {
    /// Starts `source` in a process sandboxed read-only without network by `launcher` (unsandboxed without one);
    /// the script sees `stored` through `load()`.
    pub async fn start(
        source: &str,
        tools: &[NestedTool],
        stored: &Map<String, Value>,
        launcher: Option<&Path>,
        cwd: &Path,
    ) -> Result<Cell, String> {
        let policy = rcodex_sandbox::SandboxPolicy::new(rcodex_sandbox::SandboxMode::ReadOnly, Default::default());
        let node =
            [node_program(), "--experimental-vm-modules".into(), "--no-warnings".into(), "-e".into(), RUNTIME.into()];
        let argv = match launcher {
            Some(launcher) => rcodex_sandbox::command_argv(&policy, cwd, launcher, &node),
            None => node.to_vec(),
        };
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("code mode needs Node.js: could not start {}: {e}", node[0].to_string_lossy()))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let (sender, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let event = parse_event(&line);
                let done = matches!(event, CellEvent::Done { .. });
                if sender.send(event).is_err() || done {
                    return;
                }
            }
            // The process ended without a result: what it said on stderr is the script's error.
            let mut said = String::new();
            let _ = stderr.read_to_string(&mut said).await;
            let error = match said.trim() {
                "" => "exec runtime exited unexpectedly".to_string(),
                said => format!("exec runtime exited unexpectedly: {said}"),
            };
            let _ = sender.send(CellEvent::Done { error: Some(error), writes: Map::new() });
        });
        let tools: Vec<Value> = tools.iter().map(|t| json!({"name": t.name, "description": t.description})).collect();
        let mut cell = Cell { _child: child, stdin, events };
        cell.send(json!({"type": "start", "source": source, "tools": tools, "stored": stored})).await?;
        Ok(cell)
    }

    /// The cell's next event; a cell whose process is gone says `Done` once, then nothing.
    pub async fn next(&mut self) -> Option<CellEvent> {
        self.events.recv().await
    }

    /// An event the cell has already said, if any, without waiting.
    pub fn try_next(&mut self) -> Option<CellEvent> {
        self.events.try_recv().ok()
    }

    /// Answers the script's tool call `id`: resolves its promise with the value, or rejects it with the text.
    pub async fn answer(&mut self, id: &str, result: Result<Value, String>) {
        let message = match result {
            Ok(value) => json!({"type": "tool_result", "id": id, "ok": true, "value": value}),
            Err(error) => json!({"type": "tool_result", "id": id, "ok": false, "error": error}),
        };
        // A cell that already ended does not read it, and needs not.
        let _ = self.send(message).await;
    }

    async fn send(&mut self, message: Value) -> Result<(), String> {
        let mut line = message.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await.map_err(|e| format!("exec runtime did not take the script: {e}"))
    }
}

fn parse_event(line: &str) -> CellEvent {
    let message: Value = match serde_json::from_str(line) {
        Ok(message) => message,
        Err(e) => {
            return CellEvent::Done {
                error: Some(format!("exec runtime said something unreadable: {e}")),
                writes: Map::new(),
            };
        }
    };
    let text = |key: &str| message.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    match message.get("type").and_then(Value::as_str) {
        Some("item") => CellEvent::Item(message.get("item").cloned().unwrap_or(Value::Null)),
        Some("yield") => CellEvent::Yield,
        Some("tool_call") => {
            CellEvent::ToolCall { id: text("id"), name: text("name"), input: message.get("input").cloned() }
        }
        Some("notify") => CellEvent::Notify(text("text")),
        _ => CellEvent::Done {
            error: message.get("error").and_then(Value::as_str).map(str::to_string),
            writes: message.get("writes").and_then(Value::as_object).cloned().unwrap_or_default(),
        },
    }
}
