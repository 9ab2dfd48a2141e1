//! Code mode: the `exec` and `wait` tools of the models that get them (gpt-5.6-sol and others, in their
//! `additional_tools`). `exec` runs the model's JavaScript, which calls the session's other tools through a global
//! `tools` object; a script still running when its yield time is up (or that calls `yield_control()`) becomes a
//! cell that `wait` resumes or terminates.
//!
//! What the model reads is upstream's (code-mode-exec, code-mode-wait, code-mode-errors): a header
//! `Script completed|failed|terminated` or `Script running with cell ID N`, the wall time, then the items the script
//! produced, with `Script error:` and the error's V8 text for a failed one; `notify()` adds an output of its own.
//!
//! Where rcodex differs from upstream, unseen by the model: the script runs in a Node.js process per cell (see
//! [`cell`]); nested tool calls run while an `exec` or `wait` call is waiting on their cell (upstream dispatches
//! them during the whole turn), and a cell yields only once its running nested calls have answered.

mod cell;
mod source;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::{Map, Value, json};

pub use cell::NestedTool;
use cell::{Cell, CellEvent};

use crate::items;

/// How long `exec` lets a script run before yielding, unless its pragma says otherwise.
const DEFAULT_EXEC_YIELD_MS: u64 = 30_000;
/// How long `wait` waits for a cell, unless told otherwise.
const DEFAULT_WAIT_YIELD_MS: u64 = 10_000;
/// The token budget of one `exec` or `wait` output, unless told otherwise.
const DEFAULT_MAX_OUTPUT_TOKENS: usize = 10_000;

/// The session's tools as a script reaches them.
pub trait NestedTools {
    /// Runs `name` with the script's input: the value the promise resolves to, or the text it is rejected with.
    fn call_nested(&self, tool: &NestedTool, input: Option<Value>) -> impl Future<Output = Result<Value, String>>;
}

/// A session's cells and stored values.
pub struct CodeMode {
    /// Cells that yielded, by id.
    cells: tokio::sync::Mutex<HashMap<String, Yielded>>,
    last_cell: AtomicU64,
    /// What `store()` kept, for the `load()` of later cells.
    stored: Mutex<Map<String, Value>>,
    /// The program that sandboxes a cell's process (none: the process runs unsandboxed).
    launcher: Option<PathBuf>,
}

/// A cell waiting for `wait`, with the `exec` call it answers (`notify()` outputs name it).
struct Yielded {
    cell: Cell,
    call_id: String,
}

/// How a cell's run ended, for this call.
enum Status {
    Running(String),
    Completed,
    Failed(String),
    Terminated,
}

/// What one `exec` or `wait` call gathered.
struct Run {
    status: Status,
    items: Vec<Value>,
    notes: Vec<String>,
}

impl CodeMode {
    pub fn new(launcher: Option<PathBuf>) -> CodeMode {
        CodeMode { cells: Default::default(), last_cell: AtomicU64::new(0), stored: Default::default(), launcher }
    }

    /// Answers an `exec` call whose input is `input`: the `custom_tool_call_output` items.
    pub async fn exec(
        &self,
        call_id: &str,
        input: &str,
        tools: &[NestedTool],
        cwd: &std::path::Path,
        nested: &impl NestedTools,
    ) -> Vec<Value> {
        let started = Instant::now();
        let source = match source::parse(input) {
            Ok(source) => source,
            Err(text) => return vec![items::custom_tool_call_output(call_id, Value::String(text))],
        };
        let stored = self.stored.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let id = (self.last_cell.fetch_add(1, Ordering::Relaxed) + 1).to_string();
        let mut cell = match Cell::start(&source.code, tools, &stored, self.launcher.as_deref(), cwd).await {
            Ok(cell) => cell,
            Err(text) => return vec![items::custom_tool_call_output(call_id, Value::String(text))],
        };
        let yield_after = Duration::from_millis(source.yield_time_ms.unwrap_or(DEFAULT_EXEC_YIELD_MS));
        let run = self.drive(&mut cell, &id, tools, yield_after, nested).await;
        if matches!(run.status, Status::Running(_)) {
            self.cells.lock().await.insert(id, Yielded { cell, call_id: call_id.to_string() });
        }
        let output = output(&run, source.max_output_tokens, started.elapsed());
        answer(items::custom_tool_call_output(call_id, output), call_id, run.notes)
    }

    /// Answers a `wait` call with these arguments: the `function_call_output` items.
    pub async fn wait(
        &self,
        call_id: &str,
        arguments: &str,
        tools: &[NestedTool],
        nested: &impl NestedTools,
    ) -> Vec<Value> {
        #[derive(serde::Deserialize)]
        struct Arguments {
            cell_id: String,
            yield_time_ms: Option<f64>,
            max_tokens: Option<f64>,
            #[serde(default)]
            terminate: bool,
        }
        let started = Instant::now();
        let arguments: Arguments = match serde_json::from_str(arguments) {
            Ok(arguments) => arguments,
            Err(e) => {
                let text = format!("failed to parse function arguments: {e}");
                return vec![items::function_call_output(call_id, Value::String(text))];
            }
        };
        let max_tokens = arguments.max_tokens.map(|n| n.max(0.0) as usize);
        let taken = self.cells.lock().await.remove(&arguments.cell_id);
        let Some(Yielded { mut cell, call_id: exec_call_id }) = taken else {
            let run = Run {
                status: Status::Failed(format!("exec cell {} not found", arguments.cell_id)),
                items: Vec::new(),
                notes: Vec::new(),
            };
            return vec![items::function_call_output(call_id, output(&run, max_tokens, started.elapsed()))];
        };
        let run = if arguments.terminate {
            // What the cell said before it was stopped still reaches the model; its process ends with it.
            let mut run = Run { status: Status::Terminated, items: Vec::new(), notes: Vec::new() };
            while let Some(event) = cell.try_next() {
                run.take(event);
            }
            run
        } else {
            let yield_after =
                Duration::from_millis(arguments.yield_time_ms.map_or(DEFAULT_WAIT_YIELD_MS, |ms| ms.max(0.0) as u64));
            let run = self.drive(&mut cell, &arguments.cell_id, tools, yield_after, nested).await;
            if matches!(run.status, Status::Running(_)) {
                self.cells.lock().await.insert(arguments.cell_id, Yielded { cell, call_id: exec_call_id.clone() });
            }
            run
        };
        let output = output(&run, max_tokens, started.elapsed());
        answer(items::function_call_output(call_id, output), &exec_call_id, run.notes)
    }

    /// Ends every cell (the session is ending).
    pub async fn shutdown(&self) {
        self.cells.lock().await.clear();
    }

    /// Runs `cell` until it ends, asks to yield, or has run `yield_after` with no nested call pending.
    async fn drive(
        &self,
        cell: &mut Cell,
        id: &str,
        tools: &[NestedTool],
        yield_after: Duration,
        nested: &impl NestedTools,
    ) -> Run {
        let deadline = tokio::time::Instant::now() + yield_after;
        let mut run = Run { status: Status::Running(id.to_string()), items: Vec::new(), notes: Vec::new() };
        let mut calls = FuturesUnordered::new();
        loop {
            tokio::select! {
                event = cell.next() => {
                    let Some(event) = event else { break };
                    match event {
                        CellEvent::ToolCall { id, name, input } => {
                            let tool = tools.iter().find(|t| t.name == name);
                            calls.push(async move {
                                let result = match tool {
                                    Some(tool) => nested.call_nested(tool, input).await,
                                    None => Err(format!("unknown tool `{name}`")),
                                };
                                (id, result)
                            });
                        }
                        CellEvent::Yield => break,
                        CellEvent::Done { error, writes } => {
                            self.stored.lock().unwrap_or_else(|p| p.into_inner()).extend(writes);
                            run.status = error.map_or(Status::Completed, Status::Failed);
                            break;
                        }
                        event => run.take(event),
                    }
                }
                Some((id, result)) = calls.next(), if !calls.is_empty() => cell.answer(&id, result).await,
                _ = tokio::time::sleep_until(deadline), if calls.is_empty() => break,
            }
        }
        run
    }
}

impl Run {
    fn take(&mut self, event: CellEvent) {
        match event {
            CellEvent::Item(item) => self.items.push(item),
            CellEvent::Notify(text) => self.notes.push(text),
            CellEvent::Yield | CellEvent::ToolCall { .. } | CellEvent::Done { .. } => {}
        }
    }
}

/// The call's output followed by one `custom_tool_call_output` per `notify()`, as upstream injects them.
fn answer(output: Value, exec_call_id: &str, notes: Vec<String>) -> Vec<Value> {
    let mut answer = vec![output];
    answer.extend(notes.into_iter().map(|text| {
        json!({
            "type": "custom_tool_call_output",
            "id": items::new_id("ctco"),
            "call_id": exec_call_id,
            "name": "exec",
            "output": text,
        })
    }));
    answer
}

/// The output the model reads: the header, then the items (cut to the token budget), a failure's error last; one
/// text alone goes as a string.
fn output(run: &Run, max_tokens: Option<usize>, wall_time: Duration) -> Value {
    let status = match &run.status {
        Status::Running(id) => format!("Script running with cell ID {id}"),
        Status::Completed => "Script completed".to_string(),
        Status::Failed(_) => "Script failed".to_string(),
        Status::Terminated => "Script terminated".to_string(),
    };
    let mut items = run.items.clone();
    if let Status::Failed(error) = &run.status {
        items.push(input_text(format!("Script error:\n{error}")));
    }
    let mut items = truncate(items, max_tokens.unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS));
    let seconds = (wall_time.as_secs_f64() * 10.0).round() / 10.0;
    items.insert(0, input_text(format!("{status}\nWall time {seconds:.1} seconds\nOutput:\n")));
    match items.as_slice() {
        [only] if only["type"] == "input_text" => only["text"].clone(),
        _ => Value::Array(items),
    }
}

fn input_text(text: String) -> Value {
    json!({"type": "input_text", "text": text})
}

/// Upstream's budget for code-mode output: the texts, joined by newlines, over the budget become one cut text,
/// followed by the other items.
fn truncate(items: Vec<Value>, max_tokens: usize) -> Vec<Value> {
    let texts: Vec<&str> = items.iter().filter_map(|item| item["text"].as_str()).collect();
    if texts.is_empty() {
        return items;
    }
    let combined = texts.join("\n");
    if combined.len() <= max_tokens.saturating_mul(4) {
        return items;
    }
    let mut cut = vec![input_text(rcodex_exec::truncate_for_model(&combined, max_tokens))];
    cut.extend(items.into_iter().filter(|item| item["type"] != "input_text"));
    cut
}

/// The tools a script may call, read from the `exec` tool's description in the model's `additional_tools`: one
/// section per tool, ``### `name` `` then its text and its TypeScript declaration, which `ALL_TOOLS` repeats.
pub fn nested_tools(additional_tools: &Value) -> Vec<NestedTool> {
    let description = additional_tools
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|namespace| namespace["tools"].as_array().into_iter().flatten())
        .find(|tool| tool["name"] == "exec" && tool["type"] == "custom")
        .and_then(|tool| tool["description"].as_str())
        .unwrap_or_default();
    let mut tools: Vec<NestedTool> = description
        .split("\n### `")
        .skip(1)
        .filter_map(|section| {
            let (name, text) = section.split_once("`\n")?;
            let text = text.trim_end().to_string();
            let freeform = text.contains(&format!("{name}(input: string)"));
            Some(NestedTool { name: name.to_string(), description: text, freeform })
        })
        .collect();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    tools
}

#[cfg(test)]
mod tests;
