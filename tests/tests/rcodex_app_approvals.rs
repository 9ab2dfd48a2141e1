//! `rcodex app-server`'s server requests, driven over real pipes against parity's scripted server: command and
//! file-change approvals and user input, answered by the client, and what the model reads after each answer. The
//! transcripts are checked against the protocol's schema recorded from upstream 0.169.0, and the sequences against
//! upstream's recordings (captures/codex-0.169.0/app-approvals, app-patch-approval, app-request-user-input).

use std::time::Duration;

use parity_e2e::{Run, repo, scripted};
use parity_protocol::{Protocol, Sender, check_transcript};
use parity_server::Step;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(20);

struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    transcript: Vec<(Sender, Value)>,
    next_id: i64,
}

impl Client {
    fn start(run: &Run) -> Client {
        let mut command = tokio::process::Command::from(run.rcodex(&["app-server"]));
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

    async fn send(&mut self, message: Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(format!("{message}\n").as_bytes()).await.unwrap();
        stdin.flush().await.unwrap();
        self.transcript.push((Sender::Client, message));
    }

    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(WAIT, self.lines.recv()).await.expect("a message in time").expect("output");
        let message: Value = serde_json::from_str(&line).unwrap();
        self.transcript.push((Sender::Agent, message.clone()));
        message
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

    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = json!(self.next_id);
        self.send(json!({"id": id, "method": method, "params": params})).await;
        let answer = self.until(|m| m.get("method").is_none() && m["id"] == id).await;
        assert!(answer.get("error").is_none(), "{method} refused: {answer}");
        answer["result"].clone()
    }

    /// Starts a thread under `approval_policy` and `sandbox`, and a turn; returns the thread's id.
    async fn turn(&mut self, run: &Run, approval_policy: &str, sandbox: &str, prompt: &str) -> String {
        self.call("initialize", json!({"clientInfo": {"name": "parity", "title": null, "version": "1.0.0"}})).await;
        self.send(json!({"method": "initialized"})).await;
        let params =
            json!({"cwd": run.workspace, "model": "gpt-5.5", "approvalPolicy": approval_policy, "sandbox": sandbox});
        let thread = self.call("thread/start", params).await["thread"]["id"].as_str().unwrap().to_string();
        let input = json!([{"type": "text", "text": prompt}]);
        self.call("turn/start", json!({"threadId": thread, "input": input})).await;
        thread
    }

    /// Answers the next server request of `method` with `result`; returns the request.
    async fn answer(&mut self, method: &str, result: Value) -> Value {
        let request = self.until(|m| m["method"] == method && m.get("id").is_some()).await;
        self.send(json!({"id": request["id"], "result": result})).await;
        request
    }

    /// The agent's messages from the first `turn/started` to `turn/completed`, as `method[:item type:status]`.
    async fn turn_messages(&mut self) -> Vec<String> {
        let completed = self.until(|m| m["method"] == "turn/completed").await;
        assert_eq!(completed["params"]["turn"]["status"], "completed", "{completed}");
        let started = self.transcript.iter().position(|(_, m)| m["method"] == "turn/started").unwrap();
        self.transcript[started..]
            .iter()
            .filter(|(sender, m)| *sender == Sender::Agent && m.get("method").is_some())
            .map(|(_, m)| {
                let method = m["method"].as_str().unwrap();
                let item = &m["params"]["item"];
                match (method, item["type"].as_str()) {
                    ("item/started" | "item/completed", Some(kind)) => {
                        format!("{method}:{kind}:{}", item["status"].as_str().unwrap_or(""))
                    }
                    ("thread/status/changed", _) => format!("{method}:{}", m["params"]["status"]["activeFlags"]),
                    _ => method.to_string(),
                }
            })
            // Deltas stream as they come; the sequence is what is compared.
            .filter(|m| !m.ends_with("Delta") && !m.ends_with("/delta") && !m.contains(":userMessage:"))
            .collect()
    }

    async fn finish(mut self) {
        let protocol = Protocol::load(&repo().join("captures/codex-0.169.0/app-server-schema")).expect("the schema");
        drop(self.stdin.take());
        while let Ok(Some(line)) = tokio::time::timeout(WAIT, self.lines.recv()).await {
            self.transcript.push((Sender::Agent, serde_json::from_str(&line).expect("JSON")));
        }
        tokio::time::timeout(WAIT, self.child.wait()).await.expect("exits when its client goes").unwrap();
        let violations = check_transcript(&protocol, self.transcript.iter().map(|(s, m)| (*s, m)));
        assert!(violations.is_empty(), "messages that break the recorded schema: {violations:?}");
    }
}

fn escalated(cmd: &str, call_id: &str) -> Step {
    Step::function_call(
        "exec_command",
        json!({"cmd": cmd, "sandbox_permissions": "require_escalated", "justification": "Outside the workspace."}),
    )
    .call_id(call_id)
}

/// The output the last request carries for `call_id`.
async fn output(server: &parity_server::ParityServer, call_id: &str) -> String {
    let requests = server.model_requests().await;
    let input: &Value = &requests.last().unwrap().request.body["input"];
    let item = input.as_array().unwrap().iter().find(|i| i["call_id"] == call_id && i["output"].is_string());
    item.unwrap_or_else(|| panic!("no output for {call_id}"))["output"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn command_approvals_are_requested_and_answered_as_upstreams() {
    // As app-approvals recorded it: the status waits on approval, the command is shown (source agent), the request
    // carries the justification, the proposed rule and upstream's decisions; accepted, the command runs; declined,
    // it completes as declined and the model reads upstream's rejection.
    let s = scripted([
        escalated("echo hooks configured", "call_hooks"),
        escalated("echo editor configured", "call_editor").expect_function_call_output("call_hooks"),
        Step::message("Done.").expect_function_call_output("call_editor"),
    ])
    .await;
    let run = Run::new(&s.base_url(), "", "");
    let mut client = Client::start(&run);
    let thread = client.turn(&run, "on-request", "workspace-write", "Set up my git hooks and editor.").await;

    let request = client.answer("item/commandExecution/requestApproval", json!({"decision": "accept"})).await;
    let params = &request["params"];
    assert_eq!((params["threadId"].as_str(), params["itemId"].as_str()), (Some(thread.as_str()), Some("call_hooks")));
    assert_eq!(params["command"], "/bin/bash -lc 'echo hooks configured'");
    assert_eq!(params["reason"], "Outside the workspace.");
    assert_eq!(params["proposedExecpolicyAmendment"], json!(["echo", "hooks", "configured"]));
    assert_eq!(
        params["availableDecisions"],
        json!(["accept", {"acceptWithExecpolicyAmendment": {"execpolicy_amendment": ["echo", "hooks", "configured"]}}, "cancel"])
    );
    client.answer("item/commandExecution/requestApproval", json!({"decision": "decline"})).await;
    let messages = client.turn_messages().await;
    let waiting = r#"thread/status/changed:["waitingOnApproval"]"#;
    let going = "thread/status/changed:[]";
    let expected = [
        "turn/started",
        waiting,
        "item/started:commandExecution:inProgress",
        "item/commandExecution/requestApproval",
        "serverRequest/resolved",
        going,
        "item/completed:commandExecution:completed",
        "thread/tokenUsage/updated",
        "account/rateLimits/updated",
        waiting,
        "item/started:commandExecution:inProgress",
        "item/commandExecution/requestApproval",
        "serverRequest/resolved",
        going,
        "item/completed:commandExecution:declined",
    ];
    assert_eq!(messages[..expected.len()], expected, "{messages:#?}");
    assert!(output(&s, "call_hooks").await.ends_with("Output:\nhooks configured\n"));
    assert_eq!(
        output(&s, "call_editor").await,
        r#"exec_command failed: CreateProcess { message: "Rejected(\"rejected by user\")" }"#
    );
    client.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_patch_outside_the_workspace_and_user_input_are_asked() {
    // As app-patch-approval and app-request-user-input recorded them: the file change is shown, then the status
    // waits, then the request (no reason, no root); the user input request has no item, its questions offer a
    // free-form answer, and the model reads the client's answers as they came.
    let s = scripted([
        Step::custom_tool_call("apply_patch", "*** Begin Patch\n*** Add File: ../shared.txt\n+hello\n*** End Patch\n")
            .call_id("call_patch"),
        Step::message("Done.").expect_function_call_output("call_patch"),
    ])
    .await;
    let run = Run::new(&s.base_url(), "", "");
    let mut client = Client::start(&run);
    client.turn(&run, "on-request", "workspace-write", "Write ../shared.txt.").await;
    let request = client.answer("item/fileChange/requestApproval", json!({"decision": "accept"})).await;
    assert_eq!((&request["params"]["reason"], &request["params"]["grantRoot"]), (&Value::Null, &Value::Null));
    let messages = client.turn_messages().await;
    assert_eq!(
        messages[..7],
        [
            "turn/started",
            "item/started:fileChange:inProgress",
            r#"thread/status/changed:["waitingOnApproval"]"#,
            "item/fileChange/requestApproval",
            "serverRequest/resolved",
            "thread/status/changed:[]",
            "item/completed:fileChange:completed",
        ],
        "{messages:#?}"
    );
    assert_eq!(std::fs::read_to_string(run.workspace.parent().unwrap().join("shared.txt")).unwrap(), "hello\n");
    assert!(output(&s, "call_patch").await.ends_with("Success. Updated the following files:\nA ../shared.txt\n"));
    client.finish().await;

    let ask = json!({"questions": [{"id": "color", "header": "Color", "question": "Which color?",
        "options": [{"label": "Blue", "description": "Calm."}, {"label": "Red", "description": "Bold."}]}]});
    let s = scripted([
        Step::function_call("request_user_input", ask).call_id("call_ask"),
        Step::message("Red it is.").expect_function_call_output("call_ask"),
    ])
    .await;
    let run = Run::new(&s.base_url(), "[features]\ndefault_mode_request_user_input = true", "");
    let mut client = Client::start(&run);
    client.turn(&run, "never", "read-only", "Ask me.").await;
    let answers = json!({"answers": {"color": {"answers": ["Red"]}}});
    let request = client.answer("item/tool/requestUserInput", answers).await;
    assert_eq!(request["params"]["questions"][0]["isOther"], true);
    let messages = client.turn_messages().await;
    assert_eq!(
        messages[..5],
        [
            "turn/started",
            r#"thread/status/changed:["waitingOnUserInput"]"#,
            "item/tool/requestUserInput",
            "serverRequest/resolved",
            "thread/status/changed:[]",
        ],
        "{messages:#?}"
    );
    assert_eq!(output(&s, "call_ask").await, r#"{"answers":{"color":{"answers":["Red"]}}}"#);
    client.finish().await;
}
