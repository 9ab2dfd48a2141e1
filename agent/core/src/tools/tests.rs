use std::sync::{Arc, Mutex};

use super::*;
use crate::config::{Overrides, SandboxMode};
use crate::events::{Event, ItemDetails};

struct Fixture {
    _home: tempfile::TempDir,
    work: tempfile::TempDir,
    runtime: ToolRuntime,
    events: Arc<Mutex<Vec<Event>>>,
}

fn fixture(mode: SandboxMode, approval: Option<ApprovalPolicy>) -> Fixture {
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let config = Config::load(&Overrides {
        codex_home: Some(home.path().into()),
        cwd: Some(work.path().into()),
        sandbox_mode: Some(mode),
        approval_policy: approval,
        ..Overrides::default()
    })
    .unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let runtime = ToolRuntime::new(RuntimeOptions {
        config: &config,
        pack: rcodex_prompt_pack::embedded(),
        family_slug: "gpt-5.5".into(),
        image_input: true,
        thread_id: "thread-1".into(),
        events: EventSink::new(move |e| sink.lock().unwrap().push(e)),
        sandbox_launcher: "/nonexistent/launcher".into(),
    });
    Fixture { _home: home, work, runtime, events }
}

fn call(name: &str, kind: CallKind, payload: &str) -> ToolCall {
    ToolCall { call_id: format!("call_{name}"), name: name.into(), kind, payload: payload.into() }
}

fn offered(names: &[&str]) -> Tools {
    Tools { offered: names.iter().map(|n| n.to_string()).collect() }
}

fn text(items: &[Value]) -> &str {
    items[0]["output"].as_str().unwrap()
}

#[tokio::test]
async fn calls_are_routed_by_what_was_offered() {
    let f = fixture(SandboxMode::WorkspaceWrite, None);
    let tools = offered(&["request_user_input", "apply_patch"]);

    let out = f.runtime.call(&call("update_plan", CallKind::Function, "{}"), &tools).await;
    assert_eq!((out[0]["type"].as_str(), text(&out)), (Some("function_call_output"), "unsupported call: update_plan"));
    let out = f.runtime.call(&call("frobnicate", CallKind::Custom, ""), &tools).await;
    assert_eq!(
        (out[0]["type"].as_str(), text(&out)),
        (Some("custom_tool_call_output"), "unsupported custom tool call: frobnicate")
    );
    let out = f.runtime.call(&call("request_user_input", CallKind::Function, "{}"), &tools).await;
    assert_eq!(text(&out), "request_user_input is unavailable in Default mode");

    let patch = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\n";
    let out = f.runtime.call(&call("apply_patch", CallKind::Custom, patch), &tools).await;
    assert!(text(&out).ends_with("Success. Updated the following files:\nA a.txt\n"), "{out:?}");
    assert_eq!(std::fs::read_to_string(f.work.path().join("a.txt")).unwrap(), "hi\n");
}

#[test]
fn namespaced_tools_of_additional_tools_items_count_as_offered() {
    let input = [
        json!({"type": "additional_tools", "tools": [{"type": "namespace", "name": "functions", "tools": [{"type": "custom", "name": "exec"}]}]}),
    ];
    let tools = Tools::offered_in(None, &input);
    assert!(tools.is_offered("exec") && tools.is_offered("functions"));
}

#[test]
fn a_client_tool_search_call_is_a_call_and_is_answered_with_a_tool_search_output() {
    let item = json!({"type": "tool_search_call", "id": "tsc_1", "call_id": "ts1", "status": "completed",
        "execution": "client", "arguments": {"query": "spawn agent"}});
    let call = ToolCall::from_item(&item).unwrap();
    assert_eq!((call.kind, call.payload.as_str()), (CallKind::ToolSearch, r#"{"query":"spawn agent"}"#));
    let output = call.output(ToolOutput::Tools(vec![json!({"type": "namespace"})]));
    assert_eq!(output["type"], "tool_search_output");
    assert_eq!(output["call_id"], "ts1");
    assert!(output["id"].as_str().unwrap().starts_with("tso_"));
    let hosted = json!({"type": "tool_search_call", "execution": "server", "call_id": "x"});
    assert_eq!(ToolCall::from_item(&hosted), None, "the server runs its own searches");
}

#[tokio::test]
async fn commands_run_unsandboxed_under_danger_full_access_with_the_session_environment() {
    let f = fixture(SandboxMode::DangerFullAccess, None);
    let tools = offered(&["exec_command"]);
    let cmd =
        r#"{"cmd":"echo $CODEX_THREAD_ID $CODEX_TOOL_CALL_ID $CODEX_SESSION_ID $NO_COLOR; exit 3","login":false}"#;
    let out = f.runtime.call(&call("exec_command", CallKind::Function, cmd), &tools).await;
    let text = text(&out);
    assert!(text.contains("Process exited with code 3\n"), "{text}");
    assert!(text.ends_with("Output:\nthread-1 call_exec_command thread-1 1\n"), "{text}");
    f.runtime.shutdown().await;

    // The output as it streamed is for the app server; exec shows the items.
    let events: Vec<Event> =
        f.events.lock().unwrap().iter().filter(|e| !matches!(e, Event::CommandOutputDelta { .. })).cloned().collect();
    let kinds: Vec<_> = events
        .iter()
        .map(|e| match e {
            Event::ItemStarted { item } => ("started", item.id.clone()),
            Event::ItemCompleted { item } => ("completed", item.id.clone()),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(kinds, [("started", "item_0".to_string()), ("completed", "item_0".to_string())]);
    let Event::ItemCompleted { item } = &events[1] else { unreachable!() };
    assert!(
        matches!(
            &item.details,
            ItemDetails::CommandExecution { exit_code: Some(3), status: crate::events::Status::Failed, .. }
        ),
        "{item:?}"
    );
}

#[tokio::test]
async fn escalation_is_refused_when_nobody_can_approve() {
    let f = fixture(SandboxMode::WorkspaceWrite, None);
    let tools = offered(&["exec_command"]);
    let escalate = r#"{"cmd":"touch /x","sandbox_permissions":"require_escalated","justification":"needs root"}"#;
    let out = f.runtime.call(&call("exec_command", CallKind::Function, escalate), &tools).await;
    assert_eq!(
        text(&out),
        "approval policy is Never; reject command — you cannot ask for escalated permissions if the approval policy is Never"
    );
    let f = fixture(SandboxMode::WorkspaceWrite, Some(ApprovalPolicy::OnFailure));
    let out = f.runtime.call(&call("exec_command", CallKind::Function, escalate), &tools).await;
    assert!(text(&out).starts_with("approval policy is OnFailure; reject command"), "{out:?}");
    assert!(f.events.lock().unwrap().is_empty(), "no command ran");
}

#[tokio::test]
async fn a_sandbox_that_cannot_start_is_the_commands_failure() {
    let f = fixture(SandboxMode::ReadOnly, None);
    let tools = offered(&["exec_command"]);
    let out = f.runtime.call(&call("exec_command", CallKind::Function, r#"{"cmd":"true"}"#), &tools).await;
    assert!(text(&out).starts_with("exec_command failed: CreateProcess"), "{out:?}");
}

#[tokio::test]
async fn calls_that_may_run_together_do() {
    let f = fixture(SandboxMode::DangerFullAccess, None);
    let tools = offered(&["exec_command"]);
    let sleep = |call_id: &str| ToolCall {
        call_id: call_id.into(),
        name: "exec_command".into(),
        kind: CallKind::Function,
        payload: r#"{"cmd":"sleep 0.4","login":false}"#.into(),
    };
    let (a, b) = (sleep("a"), sleep("b"));
    let started = std::time::Instant::now();
    let outputs = futures_util::future::join(f.runtime.call(&a, &tools), f.runtime.call(&b, &tools)).await;
    let elapsed = started.elapsed();
    for (output, call_id) in [(&outputs.0, "a"), (&outputs.1, "b")] {
        assert_eq!(output[0]["call_id"], call_id);
        assert!(text(output).contains("Process exited with code 0"), "{output:?}");
    }
    assert!(elapsed >= std::time::Duration::from_millis(400), "the commands ran: {elapsed:?}");
    assert!(elapsed < std::time::Duration::from_millis(750), "side by side: {elapsed:?}");
}
