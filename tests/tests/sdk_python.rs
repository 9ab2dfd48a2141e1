//! The real Python SDK clients, run against an agent's app server: the official SDK `openai-codex` 0.163.0 and
//! `codex-python-sdk` 0.2.1, from `.venv-sdk/` (installed by `scripts/install-test-deps.sh`). Each test starts a
//! scripted server, an isolated home whose config.toml points a provider at it, and a driver of `tests/sdk/` that
//! uses the SDK as its users do: a thread, a plain turn, a tool turn (`cat notes.txt`), a turn steered while its
//! answer is held, a turn interrupted while held and the turn after it, then in a second client process a resume, a
//! fork and reads. The test asserts on what the SDK returned and on the requests the server received, so it tests
//! the SDK's expectations of the agent, not the agent's of itself.
//!
//! `PARITY_SDK_AGENT` picks the agent: `upstream` (the pinned Codex 0.169.0, `scripts/install-upstream.sh`),
//! `rcodex` (the default), or a path. Both agents pass them; run them on upstream to check that they test the
//! clients' expectations rather than rcodex's:
//!
//! ```sh
//! PARITY_SDK_AGENT=upstream cargo test -p parity-e2e --test sdk_python
//! ```

mod sdk_support;

use std::time::Duration;

use parity_e2e::{KEY_VAR, Run, scripted};
use parity_server::{Hold, Match, OutputItem, Script, Step};
use sdk_support::{Driven, agent, drive, driver, messages, position, python, request_for};
use serde_json::{Value, json};

/// The agent these tests drive unless `PARITY_SDK_AGENT` says otherwise (see the module's comment).
const DEFAULT_AGENT: &str = "rcodex";

/// One step per prompt of the drivers, each found by its prompt (so that every thread, resumed or forked, gets its
/// own answer whatever the order of the requests).
fn script() -> Script {
    let held = |name: &str| OutputItem::Hold(Hold::named(name).timeout_ms(30_000));
    let on = |text: &str| Match::last_input_contains(text);
    Script::new()
        .step(Step::message("Hello from the script.").matching(on("Say hello.")))
        .step(
            Step::function_call("exec_command", json!({"cmd": "cat notes.txt"}))
                .call_id("call_notes")
                .matching(on("What do my notes say?")),
        )
        .step(
            Step::message("Your notes say: buy milk.")
                .matching(Match::function_call_output("call_notes").and(on("buy milk"))),
        )
        .step(
            Step::message("Once upon a time")
                .then_delay_ms(300)
                .then_item(held("story"))
                .matching(on("Tell me a long story.")),
        )
        .step(Step::message("The end.").matching(on("Make it a short one.")))
        .step(
            Step::message("One, two, three,")
                .then_delay_ms(300)
                .then_item(held("counting"))
                .matching(on("Count slowly to a thousand.")),
        )
        .step(Step::message("Done.").matching(on("Never mind. Say done.")))
        .step(Step::message("You asked me to say hello.").matching(on("What was my first request?")))
        .step(Step::message("Forked and continuing.").matching(on("Continue in the fork.")))
}

/// Runs a driver against the chosen agent; `None` when the test is skipped.
async fn run_driver(script_name: &str) -> Option<(Driven, Vec<parity_capture::Capture>, Run)> {
    let agent = agent(DEFAULT_AGENT)?;
    let python = python()?;
    let server = scripted(script()).await;
    let run = Run::new(&server.base_url(), "", "");
    std::fs::write(run.workspace.join("notes.txt"), "buy milk\n").unwrap();
    eprintln!("driving {} with {script_name}", agent.bin.display());
    let env = [
        ("PARITY_SDK_BIN", agent.bin.display().to_string()),
        ("PARITY_SDK_SERVER", server.url()),
        ("PARITY_SDK_WORKSPACE", run.workspace.display().to_string()),
        ("PYTHONPATH", driver("").display().to_string()),
        ("PYTHONDONTWRITEBYTECODE", "1".to_string()),
        (KEY_VAR, "sk-e2e-dummy".to_string()),
    ];
    let script_path = driver(script_name).display().to_string();
    let driven = drive(&run, &python, &[&script_path], &env, Duration::from_secs(180)).await;
    let requests = server.model_requests().await;
    Some((driven, requests, run))
}

/// The items of a turn as the SDK returned them, and the texts of its user and agent messages.
fn texts(items: &Value) -> Vec<String> {
    items
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| match i["type"].as_str() {
            Some("agentMessage") => i["text"].as_str().map(str::to_string),
            Some("userMessage") => i["content"][0]["text"].as_str().map(str::to_string),
            _ => None,
        })
        .collect()
}

fn thread_of(read: &Value) -> &Value {
    read.get("thread").unwrap_or(read)
}

/// The prompts and statuses of a thread's turns, as `thread/read` gave them.
fn turns(thread: &Value) -> Vec<(String, String)> {
    thread["turns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let first = texts(&t["items"]).into_iter().next().unwrap_or_default();
            (first, t["status"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

/// What both SDKs must have seen, and what the server must have received, whichever SDK drove the agent.
/// `turn` maps a flow's result to the SDK's view of the turn: (status, final text, items).
fn check_common(
    driven: &Driven,
    requests: &[parity_capture::Capture],
    turn: impl Fn(&Value) -> (String, String, Value),
) {
    let thread_id = driven.ok("thread_start")["thread_id"].as_str().expect("a thread id").to_string();
    assert!(!thread_id.is_empty());

    let (status, text, items) = turn(driven.ok("plain"));
    assert_eq!((status.as_str(), text.as_str()), ("completed", "Hello from the script."));
    assert_eq!(texts(&items), ["Say hello.", "Hello from the script."]);

    // The tool turn: the command ran in the workspace and its output went back to the model.
    let (status, text, items) = turn(driven.ok("tool"));
    assert_eq!((status.as_str(), text.as_str()), ("completed", "Your notes say: buy milk."));
    let command = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "commandExecution")
        .unwrap_or_else(|| panic!("no commandExecution item: {items:#}"));
    assert!(command["command"].as_str().unwrap().contains("cat notes.txt"), "{command:#}");
    assert_eq!(command["exitCode"], 0, "{command:#}");
    assert!(command["aggregatedOutput"].as_str().unwrap_or_default().contains("buy milk"), "{command:#}");
    let answered = requests
        .iter()
        .find_map(|c| c.request.function_call_output_text("call_notes"))
        .expect("a request carries the command's output");
    assert!(answered.contains("buy milk"), "{answered}");

    // The steer reached the same turn's next request, after the prompt and the answer already streamed.
    let (status, text, items) = turn(&driven.ok("steer")["turn"]);
    assert_eq!((status.as_str(), text.as_str()), ("completed", "The end."));
    let items = texts(&items);
    assert!(items.contains(&"Make it a short one.".to_string()), "the steer is an item of the turn: {items:?}");
    let story = request_for(requests, "Tell me a long story.");
    let steered = request_for(requests, "Make it a short one.");
    assert_eq!(steered.request.header("thread-id"), Some(thread_id.as_str()));
    assert_eq!(story.request.header("thread-id"), Some(thread_id.as_str()));
    let m = messages(&steered.request);
    let prompt = position(&m, "user", "Tell me a long story.").expect("the prompt");
    let steer = position(&m, "user", "Make it a short one.").expect("the steer");
    assert_eq!(steer, m.len() - 1, "the steer is the last message: {m:#?}");
    assert!(prompt < steer, "{m:#?}");

    // The interrupt ended the turn as interrupted; the next turn's request says so before its prompt.
    let interrupted = driven.ok("interrupt");
    let (status, _, _) = turn(&interrupted["turn"]);
    assert_eq!(status, "interrupted");
    let (status, text, _) = turn(&interrupted["after"]);
    assert_eq!((status.as_str(), text.as_str()), ("completed", "Done."));
    let after = request_for(requests, "Never mind. Say done.");
    let m = messages(&after.request);
    let counting = position(&m, "user", "Count slowly to a thousand.").expect("the interrupted prompt");
    let aborted = position(&m, "user", "<turn_aborted>").unwrap_or_else(|| panic!("no <turn_aborted>: {m:#?}"));
    let prompt = position(&m, "user", "Never mind. Say done.").unwrap();
    assert!(counting < aborted && aborted < prompt, "{m:#?}");

    // A second client process resumes the thread from its session file: the request carries its history.
    let resumed = request_for(requests, "What was my first request?");
    assert_eq!(resumed.request.header("thread-id"), Some(thread_id.as_str()));
    let m = messages(&resumed.request);
    assert!(
        position(&m, "user", "Say hello.").is_some() && position(&m, "assistant", "Hello from the script.").is_some()
    );

    // A fork is a new thread with the history.
    let fork_id = driven.ok("fork")["thread_id"].as_str().expect("the fork's id").to_string();
    assert_ne!(fork_id, thread_id);
    let forked = request_for(requests, "Continue in the fork.");
    assert_eq!(forked.request.header("thread-id"), Some(fork_id.as_str()));
    let m = messages(&forked.request);
    assert!(position(&m, "user", "Say hello.").is_some(), "{m:#?}");
    assert!(position(&m, "assistant", "You asked me to say hello.").is_some(), "{m:#?}");

    // Reads: every turn, in order, with its status; the fork's turns are the source's and its own.
    let read = driven.ok("read");
    let source = thread_of(&read["source"]);
    assert_eq!(source["id"], thread_id.as_str());
    let expected = [
        ("Say hello.", "completed"),
        ("What do my notes say?", "completed"),
        ("Tell me a long story.", "completed"),
        ("Count slowly to a thousand.", "interrupted"),
        ("Never mind. Say done.", "completed"),
        ("What was my first request?", "completed"),
    ];
    let expected: Vec<(String, String)> = expected.iter().map(|(p, s)| (p.to_string(), s.to_string())).collect();
    assert_eq!(turns(source), expected);
    let fork = thread_of(&read["fork"]);
    assert_eq!(fork["id"], fork_id.as_str());
    assert_eq!(fork["forkedFromId"], thread_id.as_str());
    let mut with_fork = expected;
    with_fork.push(("Continue in the fork.".to_string(), "completed".to_string()));
    assert_eq!(turns(fork), with_fork);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_python_sdk_runs_its_flows() {
    let Some((driven, requests, _run)) = run_driver("openai_codex_flows.py").await else { return };
    // The SDK's TurnResult, as the driver printed it.
    let turn = |r: &Value| {
        let r = r.get("turn").filter(|t| t.is_object()).unwrap_or(r);
        (
            r["status"].as_str().unwrap_or_default().to_string(),
            r["final_response"].as_str().unwrap_or_default().to_string(),
            r["items"].clone(),
        )
    };
    check_common(&driven, &requests, turn);
    // initialize: the SDK requires a user agent and a server version it can read.
    let metadata = &driven.ok("thread_start")["metadata"];
    assert!(!metadata["userAgent"].as_str().unwrap_or_default().is_empty(), "{metadata:#}");
    assert!(!metadata["serverInfo"]["version"].as_str().unwrap_or_default().is_empty(), "{metadata:#}");
    let steer = driven.ok("steer");
    assert_eq!(steer["steer_answer"]["turnId"], steer["turn_id"], "turn/steer answers the same turn's id");
    // The client's name is the originator of the model requests.
    assert_eq!(requests[0].request.header("originator"), Some("codex_python_sdk"));
}

#[tokio::test(flavor = "multi_thread")]
async fn codex_python_sdk_runs_its_flows() {
    let Some((driven, requests, _run)) = run_driver("codex_python_sdk_flows.py").await else { return };
    // The driver's summary of a turn: the SDK's AgentResponse text, or the last agent message of its events.
    let turn = |r: &Value| {
        (
            r["turn"]["status"].as_str().unwrap_or_default().to_string(),
            r["text"].as_str().unwrap_or_default().to_string(),
            r["items"].clone(),
        )
    };
    check_common(&driven, &requests, turn);
    let steer = driven.ok("steer");
    assert_eq!(steer["answer"]["turnId"], steer["turn"]["turn"]["id"], "turn/steer answers the same turn's id");
    assert_eq!(requests[0].request.header("originator"), Some("codex-python-sdk"));
}
