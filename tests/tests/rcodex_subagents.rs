//! rcodex's sub-agents as the model drives them: `spawn_agent` starts children that run real commands at the same
//! time as each other, `wait_agent` waits for them, the parent hears of each in a `<subagent_notification>`, and
//! each child's requests name its parent as upstream's do. The errors a model can cause are answered in upstream's
//! words.

use parity_capture::Capture;
use parity_e2e::{Run, output_text, scripted};
use parity_server::script::{Script, Syntax};
use serde_json::Value;

fn header<'a>(capture: &'a Capture, name: &str) -> Option<&'a str> {
    capture.request.header(name)
}

/// Each child waits (up to 10 s) for the other's file: only children running at the same time both see it.
const RENDEZVOUS: &str = r#"
[[steps]]
match = { last_input_contains = "Child A:" }
output = [{ function_call = { name = "exec_command", arguments = { cmd = "touch a.started; for i in $(seq 100); do [ -e b.started ] && break; sleep 0.1; done; [ -e b.started ] && echo a-met-b", yield_time_ms = 15000 }, call_id = "call_a" } }]

[[steps]]
match = { last_input_contains = "a-met-b" }
output = [{ message = "A finished." }]

[[steps]]
match = { last_input_contains = "Child B:" }
output = [{ function_call = { name = "exec_command", arguments = { cmd = "touch b.started; for i in $(seq 100); do [ -e a.started ] && break; sleep 0.1; done; [ -e a.started ] && echo b-met-a", yield_time_ms = 15000 }, call_id = "call_b" } }]

[[steps]]
match = { last_input_contains = "b-met-a" }
output = [{ message = "B finished." }]

[[steps]]
output = [
  { function_call = { namespace = "multi_agent_v1", name = "spawn_agent", arguments = { message = "Child A: meet B." }, call_id = "spawn_a" } },
  { function_call = { namespace = "multi_agent_v1", name = "spawn_agent", arguments = { message = "Child B: meet A." }, call_id = "spawn_b" } },
]

[[steps]]
expect = { function_call_output = ["spawn_a", "spawn_b"] }
extract = { a = { pattern = 'agent_id":"([^"]+)"', call_id = "spawn_a" } }
output = [{ function_call = { namespace = "multi_agent_v1", name = "wait_agent", arguments = { targets = ["{{a}}"], timeout_ms = 30000 }, call_id = "wait_1" } }]

[[steps]]
expect = { function_call_output = "wait_1" }
extract = { b = { pattern = 'agent_id":"([^"]+)"', call_id = "spawn_b" } }
output = [{ function_call = { namespace = "multi_agent_v1", name = "wait_agent", arguments = { targets = ["{{b}}"], timeout_ms = 30000 }, call_id = "wait_2" } }]

[[steps]]
expect = { function_call_output = "wait_2" }
output = [{ message = "Both met." }]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn children_run_their_commands_at_the_same_time_and_the_parent_hears_of_both() {
    let script = Script::parse(RENDEZVOUS, Syntax::Toml, "rendezvous.toml").expect("the script loads");
    let s = scripted(script).await;
    let run = Run::new(&s.base_url(), "sandbox_mode = \"danger-full-access\"", "");
    let out = run.exec(&["Split the work."]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    assert_eq!(out.agent_messages(), ["Both met."]);
    let requests = s.model_requests().await;

    // Both children's commands saw the other's file: they ran at the same time.
    let outputs: Vec<&str> = requests
        .iter()
        .flat_map(|c| c.request.input().iter())
        .filter(|i| i["type"] == "function_call_output")
        .filter_map(|i| i["output"].as_str())
        .collect();
    assert!(outputs.iter().any(|o| o.ends_with("Output:\na-met-b\n")), "child A met B: {outputs:?}");
    assert!(outputs.iter().any(|o| o.ends_with("Output:\nb-met-a\n")), "child B met A: {outputs:?}");

    // Each child is a session of its own under the parent's session id, naming its parent.
    let parent = requests.iter().find(|c| header(c, "x-openai-subagent").is_none()).expect("the parent's request");
    let parent_id = header(parent, "thread-id").expect("thread-id").to_string();
    let children: Vec<&Capture> = requests.iter().filter(|c| header(c, "x-openai-subagent").is_some()).collect();
    assert_eq!(children.len(), 4, "two requests of each child");
    for child in &children {
        assert_eq!(header(child, "x-openai-subagent"), Some("collab_spawn"));
        assert_eq!(header(child, "x-codex-parent-thread-id"), Some(parent_id.as_str()));
        assert_eq!(header(child, "session-id"), Some(parent_id.as_str()));
        assert_ne!(header(child, "thread-id"), Some(parent_id.as_str()));
        let body = &child.request.body;
        assert_eq!(body["prompt_cache_key"], Value::from(parent_id.clone()));
        let metadata: Value = serde_json::from_str(header(child, "x-codex-turn-metadata").unwrap()).unwrap();
        assert_eq!(
            (metadata["parent_thread_id"].as_str(), metadata["subagent_kind"].as_str()),
            (Some(parent_id.as_str()), Some("thread_spawn"))
        );
        // A child may spawn none: no tool search, no deferred namespaces in its context.
        assert!(body["tools"].as_array().unwrap().iter().all(|t| t["type"] != "tool_search"));
        assert!(!body.to_string().contains("Deferred tool namespaces"));
    }
    let child_threads: std::collections::BTreeSet<&str> =
        children.iter().filter_map(|c| header(c, "thread-id")).collect();
    assert_eq!(child_threads.len(), 2);

    // Each wait ends when its child is done (a wait on several ends with the first); each child notified the parent.
    let ids: Vec<String> = ["spawn_a", "spawn_b"]
        .iter()
        .map(|call| {
            let spawned: Value = serde_json::from_str(&output_text(&requests, call)).unwrap();
            assert!(spawned["nickname"].as_str().is_some_and(|n| !n.is_empty()), "{spawned}");
            spawned["agent_id"].as_str().unwrap().to_string()
        })
        .collect();
    let last: Value = serde_json::from_str(&output_text(&requests, "wait_2")).unwrap();
    assert_eq!(last["timed_out"], false);
    let last_request = requests.iter().rfind(|c| header(c, "x-openai-subagent").is_none()).unwrap();
    let notifications: Vec<String> = last_request
        .request
        .input()
        .iter()
        .filter_map(|i| i["content"][0]["text"].as_str())
        .filter(|t| t.starts_with("<subagent_notification>"))
        .map(str::to_string)
        .collect();
    assert_eq!(notifications.len(), 2, "{notifications:?}");
    for (id, message) in ids.iter().zip(["A finished.", "B finished."]) {
        let told = notifications.iter().find(|n| n.contains(id.as_str())).expect("each child notified");
        assert!(told.contains(&format!("{{\"completed\":\"{message}\"}}")), "{told}");
    }

    // exec --json shows the parent's collab items, not the children's own.
    let collab: Vec<&Value> =
        out.of_type("item.completed").into_iter().filter(|e| e["item"]["type"] == "collab_tool_call").collect();
    let tools: Vec<&str> = collab.iter().filter_map(|e| e["item"]["tool"].as_str()).collect();
    assert_eq!(tools, ["spawn_agent", "spawn_agent", "wait", "wait"]);
    assert!(out.of_type("item.completed").iter().all(|e| e["item"]["type"] != "command_execution"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_s_mistakes_are_answered_in_upstream_s_words() {
    let script = r#"
[[steps]]
output = [
  { function_call = { namespace = "multi_agent_v1", name = "wait_agent", arguments = { targets = ["not-an-id"] }, call_id = "bad_id" } },
  { function_call = { namespace = "multi_agent_v1", name = "wait_agent", arguments = { targets = [] }, call_id = "no_ids" } },
  { function_call = { namespace = "multi_agent_v1", name = "wait_agent", arguments = { targets = ["01a249be-5d22-7d50-8a44-8d5d9b2dc3ed"], timeout_ms = 0 }, call_id = "zero" } },
  { function_call = { namespace = "multi_agent_v1", name = "spawn_agent", arguments = { }, call_id = "no_message" } },
  { function_call = { namespace = "multi_agent_v1", name = "close_agent", arguments = { target = "01a249be-5d22-7d50-8a44-8d5d9b2dc3ed" }, call_id = "unknown" } },
]

[[steps]]
output = [{ message = "ok" }]
"#;
    let s = scripted(Script::parse(script, Syntax::Toml, "mistakes.toml").unwrap()).await;
    let run = Run::new(&s.base_url(), "", "");
    let out = run.exec(&["Try the tools."]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    let requests = s.model_requests().await;
    assert_eq!(
        output_text(&requests, "bad_id"),
        "invalid agent id not-an-id: Error(ParseChar { character: 'n', index: 1 })"
    );
    assert_eq!(output_text(&requests, "no_ids"), "agent ids must be non-empty");
    assert_eq!(output_text(&requests, "zero"), "timeout_ms must be greater than zero");
    assert_eq!(output_text(&requests, "no_message"), "Provide one of: message or items");
    assert_eq!(output_text(&requests, "unknown"), "agent with id 01a249be-5d22-7d50-8a44-8d5d9b2dc3ed not found");
}
