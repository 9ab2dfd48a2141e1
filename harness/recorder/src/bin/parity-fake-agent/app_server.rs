//! The fake agent's app server: enough of the app-server protocol for the recorder's tests, JSON-RPC over stdio,
//! one message per line.
//!
//! `initialize`, `thread/start`, `thread/resume`, `thread/fork` (threads are kept in `CODEX_HOME`, so a new process
//! resumes them), `turn/start` (model requests streamed from the server with the client's name as `originator`,
//! `item/*` and `turn/*` notifications), `turn/steer` (drops the stream in flight and sends the steer in a new
//! request, as upstream does), `turn/interrupt`, `thread/compact/start`. A function call `exec_command` whose
//! arguments ask for `sandbox_permissions = "require_escalated"` is put to the client as
//! `item/commandExecution/requestApproval`, and `request_user_input` as `item/tool/requestUserInput`.
//!
//! `--fail=WHAT` misbehaves on purpose: `no-initialize` (never answers it), `malformed` (prints a line that is not
//! JSON when a turn starts), `exit-mid-turn` (exits 3 when a turn starts), `refuse-steer` (answers `turn/steer`
//! with a JSON-RPC error). The prompt `hang` starts a turn that never ends.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt;
use parity_capture::sse::SseParser;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// What the main loop tells a running turn.
enum Control {
    Steer(String),
    Interrupt,
    /// The client's answer to a request of the turn's.
    Answer(Value),
}

/// How a turn ended.
struct Ended {
    thread: String,
    turn: String,
    history: Vec<Value>,
    status: &'static str,
    error: Option<String>,
}

#[derive(Clone)]
struct Model {
    base_url: String,
    key: String,
    model: String,
}

#[derive(Clone)]
struct Out(mpsc::UnboundedSender<String>);

impl Out {
    fn send(&self, message: Value) {
        let _ = self.0.send(message.to_string());
    }

    fn notify(&self, method: &str, params: Value) {
        self.send(json!({"method": method, "params": params}));
    }
}

pub async fn run(args: &[String]) -> Result<(), String> {
    let fail = args.iter().find_map(|a| a.strip_prefix("--fail=")).unwrap_or_default().to_string();
    let codex_home = PathBuf::from(std::env::var("CODEX_HOME").map_err(|_| "CODEX_HOME is not set")?);
    let config: toml::Table = toml::from_str(
        &std::fs::read_to_string(codex_home.join("config.toml")).map_err(|e| format!("config.toml: {e}"))?,
    )
    .map_err(|e| format!("config.toml: {e}"))?;
    let provider_name = config["model_provider"].as_str().ok_or("no model_provider")?;
    let provider = &config["model_providers"][provider_name];
    let model = Model {
        base_url: provider["base_url"].as_str().ok_or("no base_url")?.to_string(),
        key: std::env::var(provider["env_key"].as_str().ok_or("no env_key")?).unwrap_or_default(),
        model: config["model"].as_str().unwrap_or("unknown").to_string(),
    };
    let threads = codex_home.join("fake-agent-threads");
    std::fs::create_dir_all(&threads).map_err(|e| e.to_string())?;

    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
    let out = Out(out_tx);
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(line) = out_rx.recv().await {
            if stdout.write_all(format!("{line}\n").as_bytes()).await.is_err() || stdout.flush().await.is_err() {
                break;
            }
        }
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let (ended_tx, mut ended_rx) = mpsc::unbounded_channel::<Ended>();
    let mut originator = String::from("unknown");
    let mut active: Option<(String, mpsc::UnboundedSender<Control>)> = None;
    let mut turns = 0;

    loop {
        let line = tokio::select! {
            line = lines.next_line() => line,
            Some(ended) = ended_rx.recv() => {
                save(&threads, &ended.thread, &ended.history)?;
                active = None;
                out.notify("turn/completed", json!({"threadId": ended.thread, "turn": {
                    "id": ended.turn, "items": [], "status": ended.status,
                    "error": ended.error.map(|message| json!({"message": message})),
                }}));
                continue;
            }
        };
        let Ok(Some(line)) = line else { break };
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            return Err(format!("not JSON: {line}"));
        };
        let id = message.get("id").cloned();
        let params = message.get("params").cloned().unwrap_or_default();
        let Some(method) = message.get("method").and_then(Value::as_str) else {
            // The client's answer to one of our requests: the running turn waits for it.
            if let Some((_, control)) = &active {
                let _ = control.send(Control::Answer(message.clone()));
            }
            continue;
        };
        let Some(id) = id else { continue }; // a notification: `initialized`
        let answer = |result: Value| out.send(json!({"id": id, "result": result}));
        let refuse = |code: i64, text: &str| out.send(json!({"id": id, "error": {"code": code, "message": text}}));
        let thread_of = |params: &Value| params["threadId"].as_str().unwrap_or_default().to_string();
        match method {
            "initialize" => {
                if fail == "no-initialize" {
                    continue;
                }
                originator = params.pointer("/clientInfo/name").and_then(Value::as_str).unwrap_or("unknown").into();
                answer(json!({"userAgent": "parity-fake-agent"}));
            }
            "thread/start" => {
                let thread = format!("thread-{}-{}", std::process::id(), jiff::Timestamp::now().as_nanosecond());
                let environment: serde_json::Map<String, Value> =
                    std::env::vars().map(|(k, v)| (k, json!(v))).collect();
                let report = json!({"cwd": params["cwd"], "env": environment});
                let developer = json!({"type": "message", "role": "developer", "content": [{"type": "input_text", "text": report.to_string()}]});
                save(&threads, &thread, &[developer])?;
                answer(json!({"thread": {"id": thread}}));
                out.notify("thread/started", json!({"thread": {"id": thread}}));
            }
            "thread/resume" => match load(&threads, &thread_of(&params)) {
                Ok(_) => answer(json!({"thread": {"id": thread_of(&params)}})),
                Err(e) => refuse(-32600, &format!("no rollout found: {e}")),
            },
            "thread/fork" => match load(&threads, &thread_of(&params)) {
                Ok(history) => {
                    let fork = format!("{}-fork", thread_of(&params));
                    save(&threads, &fork, &history)?;
                    answer(json!({"thread": {"id": fork}}));
                    out.notify("thread/started", json!({"thread": {"id": fork}}));
                }
                Err(e) => refuse(-32600, &format!("no rollout found: {e}")),
            },
            "turn/start" | "thread/compact/start" => {
                if active.is_some() {
                    refuse(-32600, "a turn is already running");
                    continue;
                }
                let thread = thread_of(&params);
                let history = match load(&threads, &thread) {
                    Ok(history) => history,
                    Err(e) => {
                        refuse(-32600, &format!("no such thread: {e}"));
                        continue;
                    }
                };
                turns += 1;
                let turn = format!("turn-{turns}");
                let prompt = if method == "turn/start" {
                    params.pointer("/input/0/text").and_then(Value::as_str).unwrap_or_default().to_string()
                } else {
                    answer(json!({}));
                    "Summarize the conversation so far.".to_string()
                };
                if method == "turn/start" {
                    answer(json!({"turn": {"id": turn, "items": [], "status": "inProgress"}}));
                }
                out.notify("turn/started", json!({"threadId": thread, "turn": {"id": turn, "status": "inProgress"}}));
                match fail.as_str() {
                    "exit-mid-turn" => std::process::exit(3),
                    "malformed" => {
                        let _ = out.0.send("this line is not JSON".to_string());
                    }
                    _ => {}
                }
                let (control_tx, control_rx) = mpsc::unbounded_channel();
                active = Some((turn.clone(), control_tx));
                let cx = TurnContext {
                    out: out.clone(),
                    model: model.clone(),
                    originator: originator.clone(),
                    thread,
                    turn,
                    compact: method == "thread/compact/start",
                    next_request: turns * 1000,
                };
                let ended = ended_tx.clone();
                tokio::spawn(async move {
                    let result = cx.run(history, prompt, control_rx).await;
                    let _ = ended.send(result);
                });
            }
            "turn/steer" => match &active {
                Some((turn, control)) if fail != "refuse-steer" && params["expectedTurnId"] == json!(turn) => {
                    let text = params.pointer("/input/0/text").and_then(Value::as_str).unwrap_or_default();
                    let _ = control.send(Control::Steer(text.to_string()));
                    answer(json!({"turnId": turn}));
                }
                _ => refuse(-32600, "no active turn to steer"),
            },
            "turn/interrupt" => match &active {
                Some((_, control)) => {
                    let _ = control.send(Control::Interrupt);
                    answer(json!({}));
                }
                None => refuse(-32600, "no active turn to interrupt"),
            },
            other => refuse(-32601, &format!("method not found: {other}")),
        }
    }
    drop(out);
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    Ok(())
}

fn save(dir: &std::path::Path, thread: &str, history: &[Value]) -> Result<(), String> {
    std::fs::write(dir.join(format!("{thread}.json")), json!(history).to_string()).map_err(|e| e.to_string())
}

fn load(dir: &std::path::Path, thread: &str) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(dir.join(format!("{thread}.json"))).map_err(|e| format!("{thread}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

struct TurnContext {
    out: Out,
    model: Model,
    originator: String,
    thread: String,
    turn: String,
    compact: bool,
    next_request: usize,
}

impl TurnContext {
    fn ended(&self, history: Vec<Value>, status: &'static str, error: Option<String>) -> Ended {
        Ended { thread: self.thread.clone(), turn: self.turn.clone(), history, status, error }
    }

    fn user_item(&self, text: &str) {
        let item = json!({"type": "userMessage", "content": [{"type": "text", "text": text}]});
        self.out.notify("item/completed", json!({"threadId": self.thread, "turnId": self.turn, "item": item}));
    }

    async fn run(
        mut self,
        mut history: Vec<Value>,
        prompt: String,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) -> Ended {
        if prompt == "hang" {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        history.push(json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": prompt}]}));
        self.user_item(&prompt);
        let client = reqwest::Client::new();
        loop {
            let body = json!({"model": self.model.model, "stream": true, "input": history});
            let response = client
                .post(format!("{}/responses", self.model.base_url))
                .header("authorization", format!("Bearer {}", self.model.key))
                .header("thread-id", &self.thread)
                .header("originator", &self.originator)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await;
            let response = match response {
                Ok(r) if r.status().is_success() => r,
                Ok(r) => {
                    let why = format!("the model answered {}: {}", r.status(), r.text().await.unwrap_or_default());
                    return self.ended(history, "failed", Some(why));
                }
                Err(e) => return self.ended(history, "failed", Some(format!("request: {e}"))),
            };
            let mut items = Vec::new();
            let mut steer = None;
            let mut parser = SseParser::new();
            let mut chunks = response.bytes_stream();
            loop {
                tokio::select! {
                    chunk = chunks.next() => {
                        let Some(Ok(chunk)) = chunk else { break };
                        for frame in parser.push(&chunk) {
                            let event = frame.data_value();
                            if event["type"] == "response.output_item.done" {
                                let item = event["item"].clone();
                                if item["type"] == "message" {
                                    let text = item["content"][0]["text"].clone();
                                    let message = json!({"type": "agentMessage", "text": text});
                                    self.out.notify("item/completed", json!({"threadId": self.thread, "turnId": self.turn, "item": message}));
                                }
                                items.push(item);
                            }
                        }
                    }
                    Some(control) = control.recv() => match control {
                        // Dropping the stream closes the request in flight, as upstream does on a steer.
                        Control::Steer(text) => { steer = Some(text); break }
                        Control::Interrupt => {
                            history.extend(items);
                            return self.ended(history, "interrupted", None);
                        }
                        Control::Answer(_) => {}
                    },
                }
            }
            history.extend(items.iter().cloned());
            if let Some(text) = steer {
                history.push(
                    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}),
                );
                self.user_item(&text);
                continue;
            }
            if self.compact {
                let summary = items.iter().find_map(|i| i["content"][0]["text"].as_str()).unwrap_or_default();
                let item =
                    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": summary}]});
                return self.ended(vec![history[0].clone(), item], "completed", None);
            }
            let mut called = false;
            for item in items.iter().filter(|i| i["type"] == "function_call") {
                called = true;
                let arguments: Value =
                    serde_json::from_str(item["arguments"].as_str().unwrap_or("{}")).unwrap_or_default();
                let call_id = item["call_id"].clone();
                let output = match item["name"].as_str() {
                    Some("exec_command") => {
                        let command = arguments["cmd"].as_str().unwrap_or("true").to_string();
                        let approved = if arguments["sandbox_permissions"] == "require_escalated" {
                            let params = json!({"threadId": self.thread, "turnId": self.turn, "itemId": call_id, "command": command});
                            match self.ask("item/commandExecution/requestApproval", params, &mut control).await {
                                Some(answer) => answer.pointer("/result/decision") == Some(&json!("accept")),
                                None => return self.ended(history, "interrupted", None),
                            }
                        } else {
                            true
                        };
                        if approved {
                            match std::process::Command::new("/bin/sh").args(["-c", &command]).output() {
                                Ok(output) => String::from_utf8_lossy(&output.stdout).into_owned(),
                                Err(e) => e.to_string(),
                            }
                        } else {
                            "the user declined this command".to_string()
                        }
                    }
                    Some("request_user_input") => {
                        let params = json!({"threadId": self.thread, "turnId": self.turn, "itemId": call_id,
                            "isBlocking": true, "questions": arguments["questions"]});
                        match self.ask("item/tool/requestUserInput", params, &mut control).await {
                            Some(answer) => answer["result"].to_string(),
                            None => return self.ended(history, "interrupted", None),
                        }
                    }
                    _ => "unknown tool".to_string(),
                };
                history.push(json!({"type": "function_call_output", "call_id": call_id, "output": output}));
            }
            if !called {
                return self.ended(history, "completed", None);
            }
        }
    }

    /// Sends the client a request and waits for its answer; `None` when the turn is interrupted meanwhile.
    async fn ask(
        &mut self,
        method: &str,
        params: Value,
        control: &mut mpsc::UnboundedReceiver<Control>,
    ) -> Option<Value> {
        self.next_request += 1;
        let id = self.next_request;
        self.out.send(json!({"id": id, "method": method, "params": params}));
        loop {
            match control.recv().await? {
                Control::Answer(answer) if answer["id"] == json!(id) => return Some(answer),
                Control::Interrupt => return None,
                _ => {}
            }
        }
    }
}
