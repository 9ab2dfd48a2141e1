//! `rcodex app-server` driven over real pipes, as an SDK drives it, against parity's scripted server: a plain turn,
//! a tool turn, a steer, an interrupt, a fork, list and read, an unknown method, a malformed line, a process that
//! ends when its client goes, and a resume in a new process. Every message rcodex sends is checked against the
//! protocol's schema recorded from upstream 0.169.0 (`captures/codex-0.169.0/app-server-schema`).

use std::time::Duration;

use parity_e2e::{Run, repo, scripted};
use parity_protocol::{Protocol, Sender, check_transcript};
use parity_server::{Hold, Script, Step, Until};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(20);

/// A client of one `rcodex app-server` process: what it sent and received, in order.
struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    transcript: Vec<(Sender, Value)>,
    next_id: i64,
}

impl Client {
    fn start(run: &Run, args: &[&str]) -> Client {
        let mut command = tokio::process::Command::from(run.rcodex(args));
        command.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
        let mut child = command.spawn().expect("rcodex app-server starts");
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Client { stdin: child.stdin.take(), child, lines, transcript: Vec::new(), next_id: 0 }
    }

    async fn write_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        stdin.flush().await.unwrap();
    }

    async fn send(&mut self, message: Value) {
        self.write_line(&message.to_string()).await;
        self.transcript.push((Sender::Client, message));
    }

    /// Sends a request with the next integer id (and `"jsonrpc": "2.0"`, as codex-python-sdk sends it).
    async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = json!(self.next_id);
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await;
        id
    }

    /// The next message of the agent's; panics after [`WAIT`].
    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(WAIT, self.lines.recv())
            .await
            .unwrap_or_else(|_| panic!("no message within {WAIT:?}; so far: {:#?}", self.transcript.last()))
            .expect("rcodex closed its output");
        let message: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        self.transcript.push((Sender::Agent, message.clone()));
        message
    }

    /// Every message up to the next `turn/completed`, that one included.
    async fn through_turn_end(&mut self) -> Vec<Value> {
        let mut told = Vec::new();
        loop {
            let message = self.next().await;
            told.push(message.clone());
            if message["method"] == "turn/completed" {
                return told;
            }
        }
    }

    /// Reads until a message matches; returns it.
    async fn until(&mut self, what: impl Fn(&Value) -> bool) -> Value {
        loop {
            let message = self.next().await;
            if what(&message) {
                return message;
            }
        }
    }

    /// The answer to request `id` (a result or an error).
    async fn answer(&mut self, id: &Value) -> Value {
        let id = id.clone();
        self.until(move |m| m.get("method").is_none() && m["id"] == id).await
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.request(method, params).await;
        let answer = self.answer(&id).await;
        assert!(answer.get("error").is_none(), "{method} refused: {answer}");
        answer["result"].clone()
    }

    async fn notification(&mut self, method: &str) -> Value {
        let method = method.to_string();
        self.until(move |m| m["method"] == method.as_str() && m.get("id").is_none()).await["params"].clone()
    }

    /// Closes stdin and waits for the process to exit; returns its exit code, and checks what it said.
    async fn finish(mut self, protocol: &Protocol) -> (Option<i32>, Vec<(Sender, Value)>) {
        drop(self.stdin.take());
        while let Ok(Some(line)) = tokio::time::timeout(WAIT, self.lines.recv()).await {
            self.transcript.push((Sender::Agent, serde_json::from_str(&line).expect("JSON")));
        }
        let status = tokio::time::timeout(WAIT, self.child.wait()).await.expect("exits when its client goes").unwrap();
        let violations = check_transcript(protocol, self.transcript.iter().map(|(s, m)| (*s, m)));
        let agents: Vec<_> = violations
            .iter()
            .filter(|(i, _)| self.transcript[*i].0 == Sender::Agent)
            .map(|(i, v)| format!("{v}\n    in {}", self.transcript[*i].1))
            .collect();
        assert!(agents.is_empty(), "messages of rcodex's that break the recorded schema:\n{}", agents.join("\n"));
        (status.code(), self.transcript)
    }
}

fn held(name: &str) -> Hold {
    Hold::named(name).before("response.completed").until(Until::Release).timeout_ms(20_000)
}

fn text(text: &str) -> Value {
    json!([{"type": "text", "text": text}])
}

/// The texts of a model request's input, as `role: text` lines.
fn inputs(request: &Value) -> Vec<String> {
    request["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| match item["type"].as_str().unwrap() {
            "message" => {
                format!("{}: {}", item["role"].as_str().unwrap(), item["content"][0]["text"].as_str().unwrap())
            }
            "function_call_output" => format!("output: {}", item["output"].as_str().unwrap_or_default()),
            other => other.to_string(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn rcodex_app_server_serves_threads_over_stdio_in_upstreams_protocol() {
    let protocol = Protocol::load(&repo().join("captures/codex-0.169.0/app-server-schema")).expect("the schema");
    let thread_steps = [
        Step::message("Hello there."),
        Step::function_call("exec_command", json!({"cmd": "echo tool-ran"})).call_id("call_echo"),
        Step::message("It printed tool-ran."),
        Step::message("The sea is wide,").hold(held("answer")),
        Step::message("Waves fold into foam."),
        Step::message("One, two, three,").hold(held("count")),
        Step::message("Done."),
        Step::message("We spoke before."),
    ];
    let s = scripted(Script::new().session(thread_steps).session([Step::message("Forked.")])).await;
    let run = Run::new(&s.base_url(), "", "");
    let workspace = run.workspace.display().to_string();

    let mut client = Client::start(&run, &["app-server", "--listen", "stdio://"]);
    // The official SDK's framing: string ids, no "jsonrpc".
    client
        .send(json!({"id": "init", "method": "initialize", "params": {"clientInfo": {"name": "parity-test", "title": null, "version": "9.9"}, "capabilities": {"experimentalApi": true}}}))
        .await;
    let init = client.answer(&json!("init")).await;
    let user_agent = init["result"]["userAgent"].as_str().unwrap();
    assert!(user_agent.starts_with("parity-test/0.169.0 (") && user_agent.ends_with(" (parity-test; 9.9)"), "{init}");
    assert_eq!(init["result"]["codexHome"], json!(run.home));
    client.send(json!({"method": "initialized"})).await;

    // A line that is not JSON gets JSON-RPC's parse error, and the server goes on.
    client.write_line("this is not json").await;
    let parse = client.until(|m| m.get("error").is_some()).await;
    assert_eq!((parse["error"]["code"].clone(), parse["id"].clone()), (json!(-32700), Value::Null), "{parse}");
    // A method rcodex does not know: upstream's code and words, rcodex's list of methods.
    let unknown = client.request("thread/teleport", json!({})).await;
    let refused = client.answer(&unknown).await;
    assert_eq!(refused["error"]["code"], -32600);
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Invalid request: unknown variant `thread/teleport`, expected one of `initialize`"),
        "{message}"
    );

    let started =
        client.call("thread/start", json!({"cwd": workspace, "model": "gpt-5.5", "approvalPolicy": "never"})).await;
    let thread = started["thread"]["id"].as_str().unwrap().to_string();
    assert_eq!(client.notification("thread/started").await["thread"]["id"], thread);
    // As upstream: no session file before the first turn, so nothing to resume (codex-python-sdk relies on it).
    let early = client.request("thread/resume", json!({"threadId": thread})).await;
    let early = client.answer(&early).await;
    assert!(early["error"]["message"].as_str().unwrap().contains("no rollout found"), "{early}");

    // A plain turn: the message streams as deltas, then completes; the turn shows its answer.
    let turn = client.call("turn/start", json!({"threadId": thread, "input": text("Say hello.")})).await;
    let turn_id = turn["turn"]["id"].as_str().unwrap().to_string();
    let completed = client.notification("turn/completed").await;
    assert_eq!(completed["turn"]["id"], turn_id);
    assert_eq!(completed["turn"]["status"], "completed");
    assert_eq!(completed["turn"]["items"][0]["text"], "Hello there.");

    // A tool turn: the command is an item of its own, with its output.
    client.call("turn/start", json!({"threadId": thread, "input": text("Run echo.")})).await;
    let command =
        client.until(|m| m["method"] == "item/completed" && m["params"]["item"]["type"] == "commandExecution").await;
    let item = &command["params"]["item"];
    assert_eq!(
        (item["id"].clone(), item["aggregatedOutput"].clone()),
        (json!("call_echo"), json!("tool-ran\n")),
        "{item}"
    );
    assert_eq!((item["exitCode"].clone(), item["status"].clone()), (json!(0), json!("completed")));
    assert_eq!(client.notification("turn/completed").await["turn"]["items"][0]["text"], "It printed tool-ran.");

    // A steer while the answer streams: it names the running turn, and joins the same turn's next request.
    let turn = client.call("turn/start", json!({"threadId": thread, "input": text("Write a poem.")})).await;
    let steered_turn = turn["turn"]["id"].as_str().unwrap().to_string();
    s.wait_for_hold("answer", WAIT).await.expect("the answer is held");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let wrong = client
        .request("turn/steer", json!({"threadId": thread, "expectedTurnId": "another", "input": text("No.")}))
        .await;
    let wrong = client.answer(&wrong).await;
    assert!(wrong["error"]["message"].as_str().unwrap().contains("expected active turn id"), "{wrong}");
    let steer = client
        .call(
            "turn/steer",
            json!({"threadId": thread, "expectedTurnId": steered_turn, "input": text("Make it a haiku.")}),
        )
        .await;
    assert_eq!(steer["turnId"], steered_turn);
    let completed = client.notification("turn/completed").await;
    assert_eq!(
        (completed["turn"]["id"].clone(), completed["turn"]["status"].clone()),
        (json!(steered_turn), json!("completed"))
    );
    let requests = s.model_requests().await;
    let steered = inputs(&requests[4].request.body);
    assert_eq!(steered[steered.len() - 2..], ["assistant: The sea is wide,", "user: Make it a haiku."]);

    // An interrupt: answered once the turn has ended, which it does as interrupted.
    let turn = client.call("turn/start", json!({"threadId": thread, "input": text("Count.")})).await;
    let interrupted_turn = turn["turn"]["id"].as_str().unwrap().to_string();
    s.wait_for_hold("count", WAIT).await.expect("the count is held");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let interrupt = client.request("turn/interrupt", json!({"threadId": thread, "turnId": interrupted_turn})).await;
    let ended = client.notification("turn/completed").await;
    assert_eq!(ended["turn"]["status"], "interrupted", "turn/completed comes before the interrupt's answer");
    assert_eq!(client.answer(&interrupt).await["result"], json!({}));
    client.call("turn/start", json!({"threadId": thread, "input": text("Just say done.")})).await;
    assert_eq!(client.notification("turn/completed").await["turn"]["items"][0]["text"], "Done.");

    // List and read: the thread, its turns from its session file.
    let listed = client.call("thread/list", json!({})).await;
    assert!(listed["data"].as_array().unwrap().iter().any(|t| t["id"] == thread), "{listed}");
    let read = client.call("thread/read", json!({"threadId": thread, "includeTurns": true})).await;
    let turns = read["thread"]["turns"].as_array().unwrap();
    let statuses: Vec<&str> = turns.iter().map(|t| t["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["completed", "completed", "completed", "interrupted", "completed"]);
    assert_eq!(turns[0]["items"][0]["content"][0]["text"], "Say hello.");
    assert_eq!(turns[0]["items"][1]["text"], "Hello there.");
    assert_eq!(client.call("thread/loaded/list", json!({})).await["data"], json!([thread]));

    // A fork: a new thread with the history, its own session.
    let forked = client.call("thread/fork", json!({"threadId": thread})).await;
    let fork = forked["thread"]["id"].as_str().unwrap().to_string();
    assert_ne!(fork, thread);
    assert_eq!(forked["thread"]["forkedFromId"], thread);
    assert_eq!(forked["thread"]["turns"].as_array().unwrap().len(), 5);
    client.call("turn/start", json!({"threadId": fork, "input": text("Who are you?")})).await;
    assert_eq!(client.notification("turn/completed").await["turn"]["items"][0]["text"], "Forked.");
    let fork_request = inputs(&s.model_requests().await.last().unwrap().request.body);
    assert!(fork_request.contains(&"user: Say hello.".to_string()), "the fork carries the history: {fork_request:?}");

    let (code, transcript) = client.finish(&protocol).await;
    assert_eq!(code, Some(0), "the process exits 0 when its client goes");
    assert!(transcript.iter().any(|(_, m)| m["method"] == "item/agentMessage/delta"), "deltas are sent");

    // A new process resumes the thread from its session file.
    let mut client = Client::start(&run, &["app-server"]);
    client.call("initialize", json!({"clientInfo": {"name": "parity-test", "title": null, "version": "9.9"}})).await;
    client.send(json!({"method": "initialized"})).await;
    let resumed = client.call("thread/resume", json!({"threadId": thread})).await;
    assert_eq!(resumed["thread"]["id"], thread);
    assert_eq!(resumed["thread"]["turns"].as_array().unwrap().len(), 5);
    client.call("turn/start", json!({"threadId": thread, "input": text("Remember me?")})).await;
    assert_eq!(client.notification("turn/completed").await["turn"]["items"][0]["text"], "We spoke before.");
    let last = inputs(&s.model_requests().await.last().unwrap().request.body);
    assert!(last.contains(&"assistant: Done.".to_string()) && last.last().unwrap() == "user: Remember me?", "{last:?}");
    let (code, _) = client.finish(&protocol).await;
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_methods_sdks_call_around_threads_answer_in_the_recorded_schema() {
    let protocol = Protocol::load(&repo().join("captures/codex-0.169.0/app-server-schema")).expect("the schema");
    let s = scripted([Step::message("Noted.")]).await;
    let run = Run::new(&s.base_url(), "", "");
    std::fs::write(run.workspace.join("notes.txt"), "hello\n").unwrap();
    std::fs::create_dir_all(run.workspace.join("src")).unwrap();
    std::fs::write(run.workspace.join("src/main.rs"), "fn main() {}\n").unwrap();
    let workspace = run.workspace.display().to_string();
    // codex-python-sdk's command line.
    let mut client = Client::start(&run, &["app-server", "--enable", "guardian_approval", "-c", "web_search=\"live\""]);
    client.call("initialize", json!({"clientInfo": {"name": "sdk", "title": null, "version": "0.2.1"}})).await;
    client.send(json!({"method": "initialized"})).await;

    let models = client.call("model/list", json!({})).await;
    assert!(models["data"].as_array().unwrap().iter().any(|m| m["id"] == "gpt-5.5" && m["isDefault"] == true));
    let config = client.call("config/read", json!({"cwd": workspace})).await;
    assert_eq!(config["config"]["model_provider"], "parity");
    let account = client.call("account/read", json!({})).await;
    assert_eq!(account["account"], Value::Null);
    let limits = client.request("account/rateLimits/read", json!({})).await;
    assert!(client.answer(&limits).await["error"]["message"].as_str().unwrap().contains("authentication required"));
    assert_eq!(client.call("skills/list", json!({"cwds": [workspace]})).await["data"][0]["skills"], json!([]));
    // A skill of the workspace, and a skill file without its front matter.
    let demo = run.workspace.join(".agents/skills/demo/SKILL.md");
    std::fs::create_dir_all(demo.parent().unwrap()).unwrap();
    std::fs::write(&demo, "---\nname: demo\ndescription: demo skill\n---\n\nUse the word cobalt.\n").unwrap();
    std::fs::create_dir_all(run.workspace.join(".agents/skills/broken")).unwrap();
    std::fs::write(run.workspace.join(".agents/skills/broken/SKILL.md"), "no front matter\n").unwrap();
    let listed = client.call("skills/list", json!({"cwds": [workspace]})).await;
    let demo = std::fs::canonicalize(&demo).unwrap();
    assert_eq!(
        listed["data"][0]["skills"],
        json!([{"name": "demo", "description": "demo skill", "path": demo, "scope": "repo", "enabled": true}])
    );
    assert_eq!(listed["data"][0]["errors"].as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(client.call("experimentalFeature/list", json!({})).await["data"], json!([]));
    let found =
        client.call("fuzzyFileSearch", json!({"query": "mai", "roots": [workspace], "cancellationToken": null})).await;
    assert_eq!(found["files"][0]["path"], "src/main.rs", "{found}");
    let exec = client.call("command/exec", json!({"command": ["cat", "notes.txt"], "cwd": workspace})).await;
    assert_eq!((exec["exitCode"].clone(), exec["stdout"].clone()), (json!(0), json!("hello\n")), "{exec}");
    let written = client
        .call("config/value/write", json!({"keyPath": "model_verbosity", "value": "low", "mergeStrategy": "replace"}))
        .await;
    assert_eq!(written["status"], "ok");
    let config_toml = std::fs::read_to_string(run.home.join("config.toml")).unwrap();
    assert!(config_toml.contains("model_verbosity = \"low\""), "{config_toml}");

    let thread =
        client.call("thread/start", json!({"cwd": workspace})).await["thread"]["id"].as_str().unwrap().to_string();
    client.call("turn/start", json!({"threadId": thread, "input": text("Remember.")})).await;
    client.notification("turn/completed").await;
    client.call("thread/name/set", json!({"threadId": thread, "name": "Notes"})).await;
    assert_eq!(client.notification("thread/name/updated").await["threadName"], "Notes");
    let updated =
        client.call("thread/metadata/update", json!({"threadId": thread, "gitInfo": {"branch": "main"}})).await;
    assert_eq!(
        (updated["thread"]["name"].clone(), updated["thread"]["gitInfo"]["branch"].clone()),
        (json!("Notes"), json!("main"))
    );
    let compact = client.request("thread/compact/start", json!({"threadId": "no-such-thread"})).await;
    assert_eq!(client.answer(&compact).await["error"]["message"], "thread not found: no-such-thread");
    client.call("thread/archive", json!({"threadId": thread})).await;
    assert_eq!(client.call("thread/list", json!({})).await["data"], json!([]));
    assert_eq!(client.call("thread/list", json!({"archived": true})).await["data"][0]["id"], thread);
    let restored = client.call("thread/unarchive", json!({"threadId": thread})).await;
    assert_eq!((restored["thread"]["id"].clone(), restored["thread"]["name"].clone()), (json!(thread), json!("Notes")));
    let before = client.request("thread/start", json!({})).await;
    client.answer(&before).await;
    let (code, _) = client.finish(&protocol).await;
    assert_eq!(code, Some(0));

    // A request before `initialize` is refused, as upstream refuses it.
    let mut client = Client::start(&run, &["app-server"]);
    let early = client.request("thread/start", json!({})).await;
    assert_eq!(client.answer(&early).await["error"]["message"], "Not initialized");
    client.finish(&protocol).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_compaction_is_a_turn_of_its_own_told_as_upstream_tells_it_and_a_resumed_thread_shows_it() {
    let protocol = Protocol::load(&repo().join("captures/codex-0.169.0/app-server-schema")).expect("the schema");
    let summary = "The user asked me to remember the number 42.";
    let s = scripted([
        Step::message("Noted: 42."),
        Step::message(summary),
        Step::message("You asked me to remember 42."),
        Step::message("Still 42."),
    ])
    .await;
    let run = Run::new(&s.base_url(), "", "");
    let workspace = run.workspace.display().to_string();
    let mut client = Client::start(&run, &["app-server"]);
    client.call("initialize", json!({"clientInfo": {"name": "sdk", "title": null, "version": "1"}})).await;
    client.send(json!({"method": "initialized"})).await;
    let thread = client.call("thread/start", json!({"cwd": workspace})).await["thread"]["id"].clone();
    client.call("turn/start", json!({"threadId": thread, "input": text("Remember the number 42.")})).await;
    client.notification("turn/completed").await;

    // Answered at once, then the compaction's turn, message for message what upstream sent (app-compact).
    let compact = client.request("thread/compact/start", json!({"threadId": thread})).await;
    assert_eq!(client.next().await, json!({"id": compact, "result": {}}), "the answer comes first");
    let told = client.through_turn_end().await;
    let recorded = std::fs::read_to_string(repo().join("captures/codex-0.169.0/app-compact/frontend.jsonl")).unwrap();
    let recorded: Vec<Value> = recorded.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let compaction = recorded.iter().position(|line| line["action"] == "compact").unwrap();
    let next_turn = recorded.iter().rposition(|line| line["action"] == "turn").unwrap();
    let upstream: Vec<&Value> = recorded[compaction..next_turn]
        .iter()
        .filter(|line| line["from"] == "agent" && line["message"].get("method").is_some())
        .map(|line| &line["message"]["method"])
        .collect();
    let methods: Vec<&Value> = told.iter().map(|m| &m["method"]).collect();
    assert_eq!(methods, upstream);
    let item = &told.iter().find(|m| m["method"] == "item/completed").unwrap()["params"]["item"];
    assert_eq!(item["type"], "contextCompaction");
    let turn = &told.last().unwrap()["params"]["turn"];
    assert_eq!((turn["status"].clone(), turn["items"].clone()), (json!("completed"), json!([])));
    let estimate = &told.iter().rev().find(|m| m["method"] == "thread/tokenUsage/updated").unwrap()["params"];
    assert_eq!(estimate["tokenUsage"]["last"]["inputTokens"], 0, "the new history's size: {estimate}");

    client.call("turn/start", json!({"threadId": thread, "input": text("What number did I ask?")})).await;
    client.notification("turn/completed").await;
    let requests = s.model_requests().await;
    let next = inputs(&requests[2].request.body);
    assert!(next[next.len() - 2].ends_with(summary), "the summary before the new prompt: {next:#?}");
    assert!(!next.iter().any(|line| line == "assistant: Noted: 42."), "the answers are gone: {next:#?}");
    client.finish(&protocol).await;

    // Resumed in a new process: the compaction is a turn with its item, and the conversation goes on from the summary.
    let mut client = Client::start(&run, &["app-server"]);
    client.call("initialize", json!({"clientInfo": {"name": "sdk", "title": null, "version": "1"}})).await;
    client.send(json!({"method": "initialized"})).await;
    let resumed = client.call("thread/resume", json!({"threadId": thread})).await;
    let turns = resumed["thread"]["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 3, "{turns:#?}");
    assert_eq!(turns[1]["items"][0]["type"], "contextCompaction", "{turns:#?}");
    assert_eq!(turns[1]["items"][0]["id"], item["id"]);
    client.call("turn/start", json!({"threadId": thread, "input": text("Again?")})).await;
    client.notification("turn/completed").await;
    let requests = s.model_requests().await;
    let again = inputs(&requests[3].request.body);
    assert_eq!(&again[..next.len()], &next[..], "the compacted history and the turn after it");
    client.finish(&protocol).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_goes_ends_the_running_turns_and_the_process_exits_0() {
    let protocol = Protocol::load(&repo().join("captures/codex-0.169.0/app-server-schema")).expect("the schema");
    let s = scripted([Step::message("Still counting").hold(held("counting"))]).await;
    let run = Run::new(&s.base_url(), "", "");
    let workspace = run.workspace.display().to_string();
    let mut client = Client::start(&run, &["app-server"]);
    client.call("initialize", json!({"clientInfo": {"name": "sdk", "title": null, "version": "1"}})).await;
    client.send(json!({"method": "initialized"})).await;
    let mut threads = Vec::new();
    for _ in 0..2 {
        let thread = client.call("thread/start", json!({"cwd": workspace})).await["thread"]["id"].clone();
        threads.push(thread.as_str().unwrap().to_string());
    }
    client.call("turn/start", json!({"threadId": threads[0], "input": text("Count forever.")})).await;
    s.wait_for_hold("counting", WAIT).await.expect("held");
    let started = std::time::Instant::now();
    let (code, _) = client.finish(&protocol).await;
    assert_eq!(code, Some(0));
    assert!(started.elapsed() < Duration::from_secs(10), "the held turn does not keep the process alive");
    // Each thread has its own session file; the one that ran a turn says it was interrupted.
    let files = run.session_files();
    assert_eq!(files.len(), 1, "a thread nobody spoke to leaves no file: {files:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(files[0].to_string_lossy().contains(&threads[0]) && text.contains("\"turn_aborted\""), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_are_taken_in_the_order_the_client_wrote_them() {
    // Reported against rcodex: `thread/start` written right after `initialize`, without waiting for its answer, was
    // refused with `Not initialized`; upstream takes the messages in order and answers both.
    let protocol = Protocol::load(&repo().join("captures/codex-0.169.0/app-server-schema")).expect("the schema");
    let s = scripted([Step::message("Hi.")]).await;
    let run = Run::new(&s.base_url(), "", "");
    for _ in 0..5 {
        let mut client = Client::start(&run, &["app-server"]);
        let initialize =
            json!({"id": 1, "method": "initialize", "params": {"clientInfo": {"name": "sdk", "version": "1"}}});
        let start = json!({"id": 2, "method": "thread/start", "params": {}});
        // Both lines in one write: the server has both before it has answered either.
        client.write_line(&format!("{initialize}\n{start}")).await;
        client.transcript.push((Sender::Client, initialize));
        client.transcript.push((Sender::Client, start));
        let first = client.answer(&json!(1)).await;
        assert!(first.get("result").is_some(), "{first}");
        let started = client.answer(&json!(2)).await;
        assert!(
            started["result"]["thread"]["id"].is_string(),
            "thread/start after an unanswered initialize: {started}"
        );
        client.finish(&protocol).await;
    }
}

/// The records of a session file, by kind (`event_msg` and `response_item` with their payload's type).
fn record_kinds(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .map(|line| {
            let record: Value = serde_json::from_str(line).unwrap();
            let payload = &record["payload"];
            match record["type"].as_str().unwrap() {
                "event_msg" if payload["type"] == "item_completed" => {
                    format!("item_completed/{}", payload["item"]["type"].as_str().unwrap())
                }
                "event_msg" => payload["type"].as_str().unwrap().to_string(),
                "response_item" if payload["type"] == "message" => {
                    format!("{}_message", payload["role"].as_str().unwrap())
                }
                "response_item" => payload["type"].as_str().unwrap().to_string(),
                kind => kind.to_string(),
            }
        })
        .collect()
}

/// Sends a request and reads up to its answer; returns the answer and the methods notified before it.
async fn answered_after(client: &mut Client, method: &str, params: Value) -> (Value, Vec<String>) {
    let id = client.request(method, params).await;
    let mut before = Vec::new();
    loop {
        let message = client.next().await;
        match message["method"].as_str() {
            Some(method) if message.get("id").is_none() => before.push(method.to_string()),
            _ if message["id"] == id => return (message, before),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thread_pages_its_turns_and_items_as_upstream_and_a_fork_refers_to_its_source() {
    let protocol = Protocol::load(&repo().join("captures/codex-0.169.0/app-server-schema")).expect("the schema");
    let thread_steps = [
        Step::message("One."),
        Step::function_call("exec_command", json!({"cmd": "echo paged"})).call_id("call_echo"),
        Step::message("It printed paged."),
        Step::message("Three."),
    ];
    let s = scripted(Script::new().session(thread_steps).session([Step::message("Forked.")])).await;
    let run = Run::new(&s.base_url(), "", "");
    let workspace = run.workspace.display().to_string();
    let mut client = Client::start(&run, &["app-server"]);
    client.call("initialize", json!({"clientInfo": {"name": "sdk", "title": null, "version": "1"}})).await;
    client.send(json!({"method": "initialized"})).await;
    let thread =
        client.call("thread/start", json!({"cwd": workspace})).await["thread"]["id"].as_str().unwrap().to_string();
    let mut turns = Vec::new();
    for prompt in ["Say one.", "Run echo.", "Say three."] {
        let turn = client.call("turn/start", json!({"threadId": thread, "input": text(prompt)})).await;
        turns.push(turn["turn"]["id"].as_str().unwrap().to_string());
        client.notification("turn/completed").await;
    }

    // The session file holds upstream's records, in upstream's order (app-fork's source, recorded from 0.169.0).
    let source = run.session_files().into_iter().find(|f| f.to_string_lossy().contains(&thread)).unwrap();
    let kinds = record_kinds(&source);
    assert_eq!(
        kinds[..14],
        [
            "session_meta",
            "task_started",
            "developer_message",
            "user_message",
            "world_state",
            "turn_context",
            "thread_settings_applied",
            "user_message",
            "item_completed/UserMessage",
            "item_completed/AgentMessage",
            "assistant_message",
            "token_usage_record",
            "token_count",
            "task_complete",
        ],
        "{kinds:#?}"
    );
    assert_eq!(
        kinds[14..24],
        [
            "task_started",
            "turn_context",
            "user_message",
            "item_completed/UserMessage",
            "function_call",
            "token_usage_record",
            "item_completed/CommandExecution",
            "function_call_output",
            "token_count",
            "item_completed/AgentMessage",
        ],
        "a tool turn: {kinds:#?}"
    );

    // Turns, newest first, each with its first user message and its last answer.
    let listed = client.call("thread/turns/list", json!({"threadId": thread})).await;
    let ids: Vec<&str> = listed["data"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [&turns[2], &turns[1], &turns[0]]);
    assert_eq!(listed["nextCursor"], Value::Null);
    let summary = &listed["data"][1];
    assert_eq!(summary["itemsView"], "summary");
    let types: Vec<&str> = summary["items"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["userMessage", "agentMessage"], "{summary}");
    assert_eq!(summary["items"][1]["text"], "It printed paged.");

    // One at a time, by the cursors: the same turns; a backwards cursor turns around and includes its turn.
    let (mut paged, mut cursor, mut second_back) = (Vec::new(), Value::Null, Value::Null);
    loop {
        let page = client.call("thread/turns/list", json!({"threadId": thread, "limit": 1, "cursor": cursor})).await;
        paged.push(page["data"][0]["id"].as_str().unwrap().to_string());
        if paged.len() == 2 {
            second_back = page["backwardsCursor"].clone();
        }
        cursor = page["nextCursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(paged, [turns[2].clone(), turns[1].clone(), turns[0].clone()]);
    let back = client
        .call("thread/turns/list", json!({"threadId": thread, "cursor": second_back, "sortDirection": "asc"}))
        .await;
    let ids: Vec<&str> = back["data"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [&turns[1], &turns[2]]);

    // Every item, or none.
    let full = client.call("thread/turns/list", json!({"threadId": thread, "itemsView": "full"})).await;
    let tool_turn = &full["data"][1]["items"];
    let types: Vec<&str> = tool_turn.as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["userMessage", "commandExecution", "agentMessage"]);
    assert_eq!(
        (tool_turn[1]["id"].clone(), tool_turn[1]["aggregatedOutput"].clone(), tool_turn[1]["exitCode"].clone()),
        (json!("call_echo"), json!("paged\n"), json!(0))
    );
    let bare = client.call("thread/turns/list", json!({"threadId": thread, "itemsView": "notLoaded"})).await;
    assert_eq!(bare["data"][0]["items"], json!([]));

    // Items, oldest first, page by page.
    let (mut items, mut cursor) = (Vec::new(), Value::Null);
    loop {
        let page = client.call("thread/items/list", json!({"threadId": thread, "limit": 2, "cursor": cursor})).await;
        items.extend(page["data"].as_array().unwrap().iter().cloned());
        cursor = page["nextCursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    let types: Vec<&str> = items.iter().map(|e| e["item"]["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "userMessage",
            "agentMessage",
            "userMessage",
            "commandExecution",
            "agentMessage",
            "userMessage",
            "agentMessage"
        ]
    );
    assert_eq!(items[3]["turnId"], turns[1]);
    // Within a turn, from one of its items either way.
    let anchor = json!({"type": "item", "itemId": "call_echo"});
    let after =
        client.call("thread/items/list", json!({"threadId": thread, "turnId": turns[1], "cursor": anchor})).await;
    assert_eq!(after["data"][0]["item"]["text"], "It printed paged.");
    assert_eq!(after["data"].as_array().unwrap().len(), 1);
    let before = client
        .call(
            "thread/items/list",
            json!({"threadId": thread, "turnId": turns[1], "cursor": anchor, "sortDirection": "desc"}),
        )
        .await;
    assert_eq!(before["data"][0]["item"]["type"], "userMessage");

    // What upstream refuses, in its words.
    let refusals = [
        (
            "thread/items/list",
            json!({"threadId": thread, "cursor": anchor}),
            -32602,
            "turnId is required when cursor is an item anchor".to_string(),
        ),
        (
            "thread/turns/list",
            json!({"threadId": thread, "cursor": "garbage"}),
            -32600,
            "invalid cursor: garbage".to_string(),
        ),
        (
            "thread/items/list",
            json!({"threadId": thread, "cursor": second_back}),
            -32600,
            format!("invalid cursor: {}", second_back.as_str().unwrap()),
        ),
        ("thread/turns/list", json!({"threadId": "nobody"}), -32600, "thread not loaded: nobody".to_string()),
    ];
    for (method, params, code, message) in refusals {
        let id = client.request(method, params).await;
        let refused = client.answer(&id).await;
        assert_eq!(
            (refused["error"]["code"].clone(), refused["error"]["message"].clone()),
            (json!(code), json!(message))
        );
    }

    // A fork: told that the whole history is deprecated, as upstream tells it, unless it asked for none.
    let records_at_fork = std::fs::read_to_string(&source).unwrap().lines().count();
    let (forked, notified) = answered_after(&mut client, "thread/fork", json!({"threadId": thread})).await;
    assert!(notified.contains(&"deprecationNotice".to_string()), "{notified:?}");
    let fork = forked["result"]["thread"]["id"].as_str().unwrap().to_string();
    assert_eq!(forked["result"]["thread"]["turns"].as_array().unwrap().len(), 3);
    let (bare, notified) =
        answered_after(&mut client, "thread/fork", json!({"threadId": thread, "excludeTurns": true})).await;
    assert!(!notified.contains(&"deprecationNotice".to_string()), "{notified:?}");
    assert_eq!(bare["result"]["thread"]["turns"], json!([]));
    // It refers to its source's records instead of copying them, and its requests say where it branched off.
    let fork_file = run.session_files().into_iter().find(|f| f.to_string_lossy().contains(&fork)).unwrap();
    let first: Value =
        serde_json::from_str(std::fs::read_to_string(&fork_file).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(first["ordinal"], records_at_fork);
    assert_eq!(first["payload"]["forked_from_ordinal_exclusive"], records_at_fork);
    client.call("turn/start", json!({"threadId": fork, "input": text("Who are you?")})).await;
    client.notification("turn/completed").await;
    let request = s.model_requests().await.last().unwrap().request.clone();
    let metadata: Value = serde_json::from_str(request.header("x-codex-turn-metadata").unwrap()).unwrap();
    assert_eq!(
        (metadata["forked_from_thread_id"].clone(), metadata["forked_from_ordinal_exclusive"].clone()),
        (json!(thread), json!(records_at_fork))
    );
    assert!(inputs(&request.body).contains(&"assistant: Three.".to_string()), "the fork has its source's history");
    let fork_turns = client.call("thread/turns/list", json!({"threadId": fork})).await;
    assert_eq!(fork_turns["data"].as_array().unwrap().len(), 4, "its turn and its source's: {fork_turns}");
    client.finish(&protocol).await;

    // Resumed in a new process without its turns: no notice, and the cursors page back from the newest turn and item.
    let mut client = Client::start(&run, &["app-server"]);
    client.call("initialize", json!({"clientInfo": {"name": "sdk", "title": null, "version": "1"}})).await;
    client.send(json!({"method": "initialized"})).await;
    let (resumed, notified) =
        answered_after(&mut client, "thread/resume", json!({"threadId": thread, "excludeTurns": true})).await;
    assert!(!notified.contains(&"deprecationNotice".to_string()), "{notified:?}");
    let resumed = &resumed["result"];
    assert_eq!(resumed["thread"]["turns"], json!([]));
    let newest = client
        .call(
            "thread/turns/list",
            json!({"threadId": thread, "cursor": resumed["turnsBackwardsCursor"], "sortDirection": "desc", "limit": 1}),
        )
        .await;
    assert_eq!(newest["data"][0]["id"], turns[2]);
    let last = client
        .call(
            "thread/items/list",
            json!({"threadId": thread, "cursor": resumed["itemsBackwardsCursor"], "sortDirection": "desc", "limit": 1}),
        )
        .await;
    assert_eq!(last["data"][0]["item"]["text"], "Three.");
    // With its turns: told.
    let (whole, notified) = answered_after(&mut client, "thread/resume", json!({"threadId": thread})).await;
    assert!(notified.contains(&"deprecationNotice".to_string()), "{notified:?}");
    assert_eq!(whole["result"]["thread"]["turns"].as_array().unwrap().len(), 3);
    client.finish(&protocol).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_turns_settings_hold_for_the_thread_and_are_told_to_the_model_as_upstreams() {
    // Upstream 0.169.0, driven by hand over stdio: a `turn/start` with `approvalPolicy`, `sandboxPolicy`, `cwd`,
    // `model`, `effort` runs that turn with them and keeps them as the thread's: the next turns use them and
    // `thread/resume` answers them. Its request carries, before the prompt, the permissions text of the new sandbox
    // and approval policy (a developer message) and the environment context of the new working directory (a user
    // message, whole); nothing more is added while they stay. On a thread that has not run a turn, the context is
    // made with them instead. A new process's `thread/resume` takes back the working directory, model, approval
    // policy and effort (the sandbox is the configuration's again), and its next request tells the model the
    // permissions and the environment context without `<cwd>` and `<shell>`.
    let protocol = Protocol::load(&repo().join("captures/codex-0.169.0/app-server-schema")).expect("the schema");
    let s = scripted((0..6).map(|i| Step::message(format!("Answer {i}."))).collect::<Vec<_>>()).await;
    let run = Run::new(&s.base_url(), "", "");
    let workspace = run.workspace.display().to_string();
    let other = run.workspace.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let other = other.display().to_string();
    // What thread/resume answers of the settings a turn/start may change.
    let settings = |answer: &Value| -> Vec<String> {
        let pointers = ["/approvalPolicy", "/cwd", "/model", "/reasoningEffort", "/sandbox/type"];
        pointers.iter().map(|p| answer.pointer(p).and_then(Value::as_str).unwrap_or("(none)").to_string()).collect()
    };
    let overrides = json!({"approvalPolicy": "on-request", "cwd": other, "model": "gpt-5.4", "effort": "high",
        "sandboxPolicy": {"type": "workspaceWrite", "writableRoots": [], "networkAccess": false}});

    let mut client = Client::start(&run, &["app-server"]);
    client.call("initialize", json!({"clientInfo": {"name": "sdk", "title": null, "version": "1"}})).await;
    let start = json!({"cwd": workspace, "model": "gpt-5.5", "approvalPolicy": "never", "sandbox": "read-only"});
    let thread = client.call("thread/start", start.clone()).await["thread"]["id"].as_str().unwrap().to_string();
    client.call("turn/start", json!({"threadId": thread, "input": text("First.")})).await;
    client.notification("turn/completed").await;
    let mut params = overrides.clone();
    params["threadId"] = json!(thread);
    params["input"] = text("Second.");
    client.call("turn/start", params).await;
    client.notification("turn/completed").await;
    let resumed = client.call("thread/resume", json!({"threadId": thread})).await;
    assert_eq!(settings(&resumed), ["on-request", &other, "gpt-5.4", "high", "workspaceWrite"], "{resumed:#}");
    client.call("turn/start", json!({"threadId": thread, "input": text("Third.")})).await;
    client.notification("turn/completed").await;

    // A thread that has not run a turn yet: its context is made with the turn's settings.
    let fresh = client.call("thread/start", start).await["thread"]["id"].as_str().unwrap().to_string();
    let mut params = overrides.clone();
    params["threadId"] = json!(fresh);
    params["input"] = text("Fresh.");
    client.call("turn/start", params).await;
    client.notification("turn/completed").await;
    client.finish(&protocol).await;

    // A new process takes the thread back with the settings it last had, but the configuration's sandbox.
    let mut client = Client::start(&run, &["app-server"]);
    client.call("initialize", json!({"clientInfo": {"name": "sdk", "title": null, "version": "1"}})).await;
    let resumed = client.call("thread/resume", json!({"threadId": thread})).await;
    assert_eq!(settings(&resumed), ["on-request", &other, "gpt-5.4", "high", "readOnly"], "{resumed:#}");
    client.call("turn/start", json!({"threadId": thread, "input": text("Fourth.")})).await;
    client.notification("turn/completed").await;
    client.finish(&protocol).await;

    let requests = s.model_requests().await;
    let told = |prompt: &str| -> Vec<String> {
        let body = &request_for_prompt(&requests, prompt).request.body;
        let lines = inputs(body);
        let at = lines.iter().position(|l| l.ends_with(prompt)).unwrap();
        let previous = lines[..at].iter().rposition(|l| l.starts_with("assistant: ")).map_or(0, |i| i + 1);
        lines[previous..at].to_vec()
    };
    let second = &request_for_prompt(&requests, "Second.").request.body;
    assert_eq!((second["model"].clone(), second["reasoning"]["effort"].clone()), (json!("gpt-5.4"), json!("high")));
    let updates = told("Second.");
    assert_eq!(updates.len(), 2, "{updates:#?}");
    assert!(updates[0].starts_with("developer: <permissions instructions>") && updates[0].contains("workspace-write"));
    assert!(updates[0].contains("# Escalation Requests"), "the text of on-request: {}", updates[0]);
    assert!(updates[1].starts_with(&format!("user: <environment_context>\n  <cwd>{other}</cwd>\n  <shell>")));
    assert!(told("Third.").is_empty(), "nothing more while the settings stay: {:#?}", told("Third."));
    let fresh = &request_for_prompt(&requests, "Fresh.").request.body;
    assert_eq!(inputs(fresh).len(), 4, "the context, made with the turn's settings, and the prompt: {fresh:#}");
    let context = fresh["input"].to_string();
    assert!(context.contains("# Escalation Requests") && context.contains(&format!("<cwd>{other}</cwd>")));
    let fourth = told("Fourth.");
    assert_eq!(fourth.len(), 2, "{fourth:#?}");
    assert!(fourth[0].starts_with("developer: <permissions instructions>") && fourth[0].contains("`read-only`"));
    assert!(fourth[1].starts_with("user: <environment_context>\n  <current_date>"), "{}", fourth[1]);
}

/// The model request whose input ends with the user's `prompt`.
fn request_for_prompt<'a>(requests: &'a [parity_capture::Capture], prompt: &str) -> &'a parity_capture::Capture {
    requests
        .iter()
        .find(|c| inputs(&c.request.body).last().is_some_and(|l| l == &format!("user: {prompt}")))
        .unwrap_or_else(|| panic!("no request ends with {prompt:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_key_login_authenticates_the_requests_of_a_provider_that_requires_openai_auth() {
    // Upstream 0.169.0 (the official Python SDK's login tests, and by hand): `account/login/start` with an API key
    // answers `{"type": "apiKey"}`, then sends `account/login/completed` and `account/updated`, keeps the key in
    // CODEX_HOME/auth.json (mode 0600), and a provider with `requires_openai_auth` and no key of its own sends it as
    // the bearer, in this process and the next. ChatGPT tokens need the `experimentalApi` capability.
    let protocol = Protocol::load(&repo().join("captures/codex-0.169.0/app-server-schema")).expect("the schema");
    let s = scripted([Step::message("Signed in."), Step::message("Still signed in.")]).await;
    let run = Run::new(&s.base_url(), "", "");
    let config = format!(
        "model = \"gpt-5.5\"\nmodel_provider = \"auth\"\n[model_providers.auth]\nname = \"auth\"\nbase_url = \"{}\"\n\
         wire_api = \"responses\"\nrequires_openai_auth = true\n",
        s.base_url()
    );
    std::fs::write(run.home.join("config.toml"), config).unwrap();
    let mut client = Client::start(&run, &["app-server"]);
    client.call("initialize", json!({"clientInfo": {"name": "sdk", "title": null, "version": "1"}})).await;
    let read = client.call("account/read", json!({})).await;
    assert_eq!((read["account"].clone(), read["requiresOpenaiAuth"].clone()), (Value::Null, json!(true)));
    let tokens = json!({"type": "chatgptAuthTokens", "accessToken": "a.b.c", "chatgptAccountId": "ws"});
    let refused = client.request("account/login/start", tokens).await;
    let refused = client.answer(&refused).await;
    assert_eq!(
        refused["error"]["message"],
        "account/login/start.chatgptAuthTokens requires experimentalApi capability"
    );
    let login = client.call("account/login/start", json!({"type": "apiKey", "apiKey": "sk-login-test"})).await;
    assert_eq!(login, json!({"type": "apiKey"}));
    assert_eq!(client.notification("account/login/completed").await["success"], true);
    assert_eq!(client.notification("account/updated").await["authMode"], "apikey");
    assert_eq!(client.call("account/read", json!({})).await["account"], json!({"type": "apiKey"}));
    let auth_json = run.home.join("auth.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&auth_json).unwrap().permissions().mode() & 0o777, 0o600);
    let thread = client.call("thread/start", json!({})).await["thread"]["id"].as_str().unwrap().to_string();
    client.call("turn/start", json!({"threadId": thread, "input": text("Who am I?")})).await;
    client.notification("turn/completed").await;
    client.finish(&protocol).await;

    let mut client = Client::start(&run, &["app-server"]);
    client.call("initialize", json!({"clientInfo": {"name": "sdk", "title": null, "version": "1"}})).await;
    let thread = client.call("thread/start", json!({})).await["thread"]["id"].as_str().unwrap().to_string();
    client.call("turn/start", json!({"threadId": thread, "input": text("And now?")})).await;
    client.notification("turn/completed").await;
    client.finish(&protocol).await;
    let bearer = format!("Bearer <redacted:{}>", parity_capture::redact::fingerprint("sk-login-test"));
    for request in s.model_requests().await {
        assert_eq!(request.request.header("authorization"), Some(bearer.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_messages_phase_is_shown_as_the_model_gave_it() {
    // Upstream 0.169.0 (the official Python SDK's run tests, and by hand): an assistant message's `phase`
    // (`commentary`, `final_answer`) is the `phase` of its `agentMessage` in `item/started`, `item/completed` and
    // `turn/completed`, which the SDK needs to tell the final answer from commentary.
    let protocol = Protocol::load(&repo().join("captures/codex-0.169.0/app-server-schema")).expect("the schema");
    let phased = |text: &str, phase: &str| {
        parity_server::OutputItem::Message(parity_server::script::Message {
            text: text.into(),
            phase: Some(phase.into()),
            ..Default::default()
        })
    };
    let step = Step::reply().then_item(phased("Looking.", "commentary")).then_item(phased("Found it.", "final_answer"));
    let s = scripted([step]).await;
    let run = Run::new(&s.base_url(), "", "");
    let mut client = Client::start(&run, &["app-server"]);
    client.call("initialize", json!({"clientInfo": {"name": "sdk", "title": null, "version": "1"}})).await;
    let thread = client.call("thread/start", json!({})).await["thread"]["id"].as_str().unwrap().to_string();
    client.call("turn/start", json!({"threadId": thread, "input": text("Find it.")})).await;
    let completed = client.notification("turn/completed").await;
    assert_eq!(completed["turn"]["items"][0]["phase"], "final_answer", "{completed:#}");
    let (code, transcript) = client.finish(&protocol).await;
    assert_eq!(code, Some(0));
    let phases: Vec<(String, Value, Value)> = transcript
        .iter()
        .filter(|(_, m)| m["params"]["item"]["type"] == "agentMessage")
        .map(|(_, m)| {
            let item = &m["params"]["item"];
            (m["method"].as_str().unwrap().to_string(), item["text"].clone(), item["phase"].clone())
        })
        .collect();
    let expected = [
        ("item/started", "", "commentary"),
        ("item/completed", "Looking.", "commentary"),
        ("item/started", "", "final_answer"),
        ("item/completed", "Found it.", "final_answer"),
    ];
    let expected: Vec<(String, Value, Value)> =
        expected.iter().map(|(m, t, p)| (m.to_string(), json!(t), json!(p))).collect();
    assert_eq!(phases, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn turn_start_is_answered_before_the_turn_tells_anything() {
    // Upstream 0.169.0 answers `turn/start` before the turn's `thread/status/changed` and `turn/started`; rcodex
    // answered after `turn/started` and the turn's first items, and the official Python SDK, which follows a turn from
    // its id, then sometimes waited forever for a turn that had already ended (its own suite hung).
    let protocol = Protocol::load(&repo().join("captures/codex-0.169.0/app-server-schema")).expect("the schema");
    let s = scripted((0..5).map(|_| Step::message("Done.")).collect::<Vec<_>>()).await;
    let run = Run::new(&s.base_url(), "", "");
    let mut client = Client::start(&run, &["app-server"]);
    client.call("initialize", json!({"clientInfo": {"name": "sdk", "title": null, "version": "1"}})).await;
    let thread = client.call("thread/start", json!({})).await["thread"]["id"].as_str().unwrap().to_string();
    for _ in 0..5 {
        let id = client.request("turn/start", json!({"threadId": thread, "input": text("Go.")})).await;
        let mut seen = Vec::new();
        loop {
            let message = client.next().await;
            let answered = message.get("method").is_none() && message["id"] == id;
            seen.push(if answered {
                "answer".to_string()
            } else {
                message["method"].as_str().unwrap_or("?").to_string()
            });
            if message["method"] == "turn/completed" {
                break;
            }
        }
        let answer = seen.iter().position(|m| m == "answer").expect("turn/start is answered");
        let started = seen.iter().position(|m| m == "turn/started").expect("turn/started");
        assert!(answer < started, "{seen:?}");
    }
    client.finish(&protocol).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_review_is_a_turn_of_the_thread_told_message_for_message_as_upstream_tells_it() {
    let protocol = Protocol::load(&repo().join("captures/codex-0.169.0/app-server-schema")).expect("the schema");
    let answer = r#"{"findings":[{"title":"[P1] add subtracts","body":"It returns a - b.","confidence_score":0.9,"priority":1,"code_location":{"absolute_file_path":"src/math.rs","line_range":{"start":2,"end":2}}}],"overall_correctness":"patch is incorrect","overall_explanation":"add no longer adds.","overall_confidence_score":0.9}"#;
    let s = scripted([Step::message(answer)]).await;
    let run = Run::new(&s.base_url(), "", "");
    let mut client = Client::start(&run, &["app-server"]);
    client.call("initialize", json!({"clientInfo": {"name": "sdk", "title": null, "version": "1"}})).await;
    client.send(json!({"method": "initialized"})).await;
    let thread = client.call("thread/start", json!({})).await["thread"]["id"].as_str().unwrap().to_string();

    // Bad requests are refused before anything runs, naming what is wrong.
    for (params, why) in [
        (json!({"threadId": thread, "target": {"type": "staged"}}), "target.type \"staged\" is not"),
        (json!({"threadId": thread, "target": {"type": "baseBranch"}}), "target.branch is missing"),
        (json!({"threadId": thread, "target": {"type": "uncommittedChanges"}, "delivery": "detached"}), "detached"),
        (json!({"threadId": "nope", "target": {"type": "uncommittedChanges"}}), "thread not found: nope"),
        // The workspace is no repository: there is nothing to review against.
        (json!({"threadId": thread, "target": {"type": "baseBranch", "branch": "main"}}), "no commit yet to review"),
    ] {
        let id = client.request("review/start", params).await;
        let refused = client.answer(&id).await;
        let message = refused["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(why), "{why:?} not in {refused}");
    }

    let id =
        client.request("review/start", json!({"threadId": thread, "target": {"type": "uncommittedChanges"}})).await;
    let answered = client.next().await;
    assert_eq!(answered["id"], id, "the answer comes first: {answered}");
    let turn = &answered["result"]["turn"];
    let turn_id = turn["id"].as_str().unwrap().to_string();
    assert_eq!(answered["result"]["reviewThreadId"], thread.as_str());
    assert_eq!((turn["status"].as_str(), turn["rootTurnId"].is_null()), (Some("inProgress"), true));
    // The pack's words for the uncommitted changes, learned from app-review.
    let hint = &turn["items"][0];
    assert_eq!(
        (hint["id"].as_str(), hint["content"][0]["text"].as_str()),
        (Some(turn_id.as_str()), Some("current changes"))
    );
    let told = client.through_turn_end().await;

    // What upstream told in app-review, but the reviewer's command (this reviewer runs none).
    let recorded = std::fs::read_to_string(repo().join("captures/codex-0.169.0/app-review/frontend.jsonl")).unwrap();
    let upstream: Vec<String> = recorded
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|line| line["from"] == "agent" && line["message"].get("method").is_some())
        .filter(|line| line["message"]["params"]["item"]["type"] != "commandExecution")
        .map(|line| line["message"]["method"].as_str().unwrap().to_string())
        .filter(|method| !["thread/started", "remoteControl/status/changed"].contains(&method.as_str()))
        .collect();
    let methods: Vec<String> = told.iter().map(|m| m["method"].as_str().unwrap().to_string()).collect();
    assert_eq!(methods, upstream);
    let item = |kind: &str| told.iter().find(|m| m["params"]["item"]["type"] == kind).map(|m| &m["params"]).unwrap();
    assert_eq!(item("enteredReviewMode")["item"]["review"], "current changes");
    assert_eq!(item("enteredReviewMode")["turnId"], turn_id.as_str());
    let exited = item("exitedReviewMode")["item"]["review"].as_str().unwrap();
    assert!(exited.starts_with("add no longer adds.\n\n") && exited.ends_with("  It returns a - b."), "{exited}");
    let completed = &told.last().unwrap()["params"]["turn"];
    assert_eq!((completed["id"].as_str(), completed["status"].as_str()), (Some(turn_id.as_str()), Some("completed")));
    assert_eq!(completed["items"][0]["text"], exited, "the turn ends with the findings as its message");

    // The reviewer is a sub-agent of the thread, and the turn started is its own, rooted in the review's.
    let requests = s.model_requests().await;
    assert_eq!(requests.len(), 1);
    let request = &requests[0].request;
    assert_eq!(request.header("x-openai-subagent"), Some("review"));
    assert_eq!(request.header("x-codex-parent-thread-id"), Some(thread.as_str()));
    let metadata: Value = serde_json::from_str(request.header("x-codex-turn-metadata").unwrap()).unwrap();
    assert_eq!(metadata["parent_turn_id"], turn_id.as_str());
    let started = &told.iter().find(|m| m["method"] == "turn/started").unwrap()["params"]["turn"];
    assert_eq!(started["id"], metadata["turn_id"]);
    assert_eq!(started["rootTurnId"], turn_id.as_str());
    client.finish(&protocol).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_review_stops_when_its_reviewers_turn_is_interrupted_and_says_so() {
    let protocol = Protocol::load(&repo().join("captures/codex-0.169.0/app-server-schema")).expect("the schema");
    let s = scripted([Step::message("{\"findings\": []}").hold(held("review"))]).await;
    let run = Run::new(&s.base_url(), "", "");
    let mut client = Client::start(&run, &["app-server"]);
    client.call("initialize", json!({"clientInfo": {"name": "sdk", "title": null, "version": "1"}})).await;
    client.send(json!({"method": "initialized"})).await;
    let thread = client.call("thread/start", json!({})).await["thread"]["id"].as_str().unwrap().to_string();
    let review =
        client.call("review/start", json!({"threadId": thread, "target": {"type": "uncommittedChanges"}})).await;
    let review_turn = review["turn"]["id"].as_str().unwrap().to_string();
    let reviewer_turn = client.notification("turn/started").await["turn"]["id"].as_str().unwrap().to_string();
    s.wait_for_hold("review", WAIT).await.expect("the reviewer's answer is held");

    // As upstream: the active turn is the reviewer's; naming the review's is refused.
    let refused = client.request("turn/interrupt", json!({"threadId": thread, "turnId": review_turn})).await;
    let refused = client.answer(&refused).await;
    assert!(refused["error"]["message"].as_str().unwrap().contains(&reviewer_turn), "{refused}");
    let interrupt = client.request("turn/interrupt", json!({"threadId": thread, "turnId": reviewer_turn})).await;
    let told = client.through_turn_end().await;
    let pack = rcodex_prompt_pack::embedded();
    let exited = told.iter().find(|m| m["params"]["item"]["type"] == "exitedReviewMode").expect("the review exits");
    assert_eq!(exited["params"]["item"]["review"].as_str(), pack.text("app_review/interrupted/exited"));
    let message = told.iter().rev().find(|m| m["params"]["item"]["type"] == "agentMessage").unwrap();
    assert_eq!(message["params"]["item"]["text"].as_str(), pack.text("app_review/interrupted/message"));
    let ended = &told.last().unwrap()["params"]["turn"];
    assert_eq!((ended["id"].as_str(), ended["status"].as_str()), (Some(review_turn.as_str()), Some("interrupted")));
    let answered = client.answer(&interrupt).await;
    assert_eq!(answered["result"], json!({}), "the interrupt is answered once the turn has ended: {answered}");
    // The thread is free again: another review runs to its end (its reviewer, a session of its own, is held where
    // the first was, and let go).
    client.call("review/start", json!({"threadId": thread, "target": {"type": "uncommittedChanges"}})).await;
    s.wait_for_hold("review", WAIT).await.expect("the second reviewer's answer is held");
    s.release("review");
    let ended = client.notification("turn/completed").await;
    assert_eq!(ended["turn"]["status"], "completed", "{ended}");
    client.finish(&protocol).await;
}
