//! The real TypeScript SDK, `@openai/codex-sdk` 0.163.0 from npm (the newest release; there is no 0.169.0), run
//! against an agent's `exec`: the SDK spawns the binary given as its `codexPathOverride` (`exec --experimental-json`,
//! its `--config` pairs, `resume ID` after the options, `--output-schema FILE`, the prompt on stdin) and reads its
//! JSONL events. A driver of `tests/sdk/` runs a thread, a streamed run with a tool call (`cat notes.txt`), a resume
//! by id, a run with an output schema, an abort before a run and one while the answer is held, and a run after it,
//! against a scripted server; the test asserts on what the SDK returned and on the requests the server received.
//!
//! `PARITY_SDK_AGENT` picks the agent: `rcodex` (the default: rcodex has `exec`), `upstream` (the pinned Codex
//! 0.169.0, `scripts/install-upstream.sh`), or a path:
//!
//! ```sh
//! PARITY_SDK_AGENT=upstream cargo test -p parity-e2e --test sdk_typescript
//! ```

mod sdk_support;

use std::time::Duration;

use parity_e2e::{KEY_VAR, Run, scripted};
use parity_server::{Hold, Match, OutputItem, Script, Step};
use sdk_support::{agent, drive, driver, messages, node, position, request_for};
use serde_json::{Value, json};

/// The agent these tests drive unless `PARITY_SDK_AGENT` says otherwise.
const DEFAULT_AGENT: &str = "rcodex";

fn script() -> Script {
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
        .step(Step::message("You asked me to say hello.").matching(on("What was my first request?")))
        .step(Step::message(r#"{"answer":"42"}"#).matching(on("Answer in JSON.")))
        .step(
            Step::message("One, two, three,")
                .then_delay_ms(300)
                .then_item(OutputItem::Hold(Hold::named("counting").timeout_ms(30_000)))
                .matching(on("Count slowly to a thousand.")),
        )
        .step(Step::message("Done.").matching(on("Never mind. Say done.")))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_typescript_sdk_runs_its_flows_on_exec() {
    let Some(agent) = agent(DEFAULT_AGENT) else { return };
    let Some((node, sdk_dir)) = node() else { return };
    let server = scripted(script()).await;
    let run = Run::new(&server.base_url(), "", "");
    std::fs::write(run.workspace.join("notes.txt"), "buy milk\n").unwrap();
    eprintln!("driving {} with codex_sdk_flows.mjs", agent.bin.display());
    let env = [
        ("PARITY_SDK_BIN", agent.bin.display().to_string()),
        ("PARITY_SDK_SERVER", server.url()),
        ("PARITY_SDK_WORKSPACE", run.workspace.display().to_string()),
        ("PARITY_SDK_NODE_MODULES", sdk_dir.join("node_modules").display().to_string()),
        (KEY_VAR, "sk-e2e-dummy".to_string()),
    ];
    let script_path = driver("codex_sdk_flows.mjs").display().to_string();
    let driven = drive(&run, &node, &[&script_path], &env, Duration::from_secs(180)).await;
    let requests = server.model_requests().await;

    // thread.run: the answer, its items, the usage and the thread's id (from `thread.started`).
    let first = driven.ok("run");
    assert_eq!(first["final_response"], "Hello from the script.");
    let thread_id = first["thread_id"].as_str().expect("the thread has an id once run").to_string();
    let items = first["items"].as_array().unwrap();
    assert!(items.iter().any(|i| i["type"] == "agent_message" && i["text"] == "Hello from the script."), "{items:?}");
    assert!(first["usage"]["input_tokens"].as_u64().is_some_and(|n| n > 0), "{first:#}");
    let hello = request_for(&requests, "Say hello.");
    // The SDK names itself in CODEX_INTERNAL_ORIGINATOR_OVERRIDE; upstream sends it as the originator.
    assert_eq!(hello.request.header("originator"), Some("codex_sdk_ts"));
    assert_eq!(hello.request.header("thread-id"), Some(thread_id.as_str()));

    // runStreamed: the event sequence of a tool turn.
    let events = driven.ok("streamed")["events"].as_array().unwrap().clone();
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types.first(), Some(&"thread.started"), "{types:?}");
    assert_eq!(types.last(), Some(&"turn.completed"), "{types:?}");
    assert!(types.contains(&"turn.started"), "{types:?}");
    let completed: Vec<&Value> = events.iter().filter(|e| e["type"] == "item.completed").map(|e| &e["item"]).collect();
    let command = completed
        .iter()
        .find(|i| i["type"] == "command_execution")
        .unwrap_or_else(|| panic!("no command_execution item: {completed:#?}"));
    assert!(command["command"].as_str().unwrap().contains("cat notes.txt"), "{command:#}");
    assert_eq!(command["exit_code"], 0, "{command:#}");
    assert_eq!(command["status"], "completed", "{command:#}");
    assert!(command["aggregated_output"].as_str().unwrap_or_default().contains("buy milk"), "{command:#}");
    assert!(
        completed.iter().any(|i| i["type"] == "agent_message" && i["text"] == "Your notes say: buy milk."),
        "{completed:#?}"
    );
    let output = requests.iter().find_map(|c| c.request.function_call_output_text("call_notes"));
    assert!(output.is_some_and(|o| o.contains("buy milk")), "the command's output reached the model");

    // resumeThread(id).run: the same thread, its history sent again.
    let resumed = driven.ok("resume");
    assert_eq!(resumed["thread_id"], thread_id.as_str());
    assert_eq!(resumed["final_response"], "You asked me to say hello.");
    let request = request_for(&requests, "What was my first request?");
    assert_eq!(request.request.header("thread-id"), Some(thread_id.as_str()));
    let m = messages(&request.request);
    assert!(position(&m, "user", "Say hello.").is_some() && position(&m, "assistant", "Your notes say").is_some());

    // run with outputSchema: the schema reaches the model as the response format, the answer parses.
    let structured = driven.ok("output_schema");
    assert_eq!(structured["parsed"], json!({"answer": "42"}));
    let request = request_for(&requests, "Answer in JSON.");
    let format = &request.request.body["text"]["format"];
    assert_eq!(format["type"], "json_schema", "{format:#}");
    assert_eq!(format["strict"], true, "{format:#}");
    assert_eq!(format["schema"]["required"], json!(["answer"]), "{format:#}");

    // Aborts: an aborted signal rejects the run without a request; aborting while the answer is held rejects it too,
    // and the thread runs on afterwards.
    let before = driven.ok("abort_before");
    assert_eq!(before["rejected"], true, "{before:#}");
    assert!(!requests.iter().any(|c| messages(&c.request).iter().any(|(_, t)| t.contains("This never runs."))));
    let held = driven.ok("abort_while_held");
    assert_eq!(held["rejected"], true, "{held:#}");
    assert_eq!(held["name"], "AbortError", "{held:#}");
    let after = driven.ok("after_abort");
    assert_eq!(after["final_response"], "Done.");
    assert_eq!(after["thread_id"], thread_id.as_str());
    let request = request_for(&requests, "Never mind. Say done.");
    assert_eq!(request.request.header("thread-id"), Some(thread_id.as_str()));
    let m = messages(&request.request);
    assert!(position(&m, "user", "Say hello.").is_some(), "the thread's history is kept: {m:#?}");
}
