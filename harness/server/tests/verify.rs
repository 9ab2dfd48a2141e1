//! Verification of a run: unused steps, refused requests, and the tool-call invariants codex-rs's test support
//! checks, on drop or on demand.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use common::{codex_body, post};
use parity_capture::Recording;
use parity_server::{ParityServer, Step, check_recording};
use serde_json::{Value, json};

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload.downcast_ref::<String>().cloned().or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string())).unwrap()
}

/// A request whose input carries these items after the user's prompt.
fn with_items(items: &[Value]) -> Value {
    let mut body = codex_body("go");
    body["input"].as_array_mut().unwrap().extend(items.iter().cloned());
    body
}

#[tokio::test]
async fn a_verified_server_fails_when_dropped_with_a_step_never_used() {
    let server =
        ParityServer::verified([Step::message("a"), Step::message("b").name("the answer")]).start().await.unwrap();
    post(&server.base_url(), &codex_body("x"), &[]).await;
    server.settle(std::time::Duration::from_secs(5)).await;
    let report = server.verify().await;
    assert!(!report.is_ok());
    let dropped = catch_unwind(AssertUnwindSafe(|| drop(server)));
    let message = panic_text(dropped.expect_err("dropping an unverified run panics"));
    assert!(message.contains("step 2 \"the answer\" was never used"), "{message}");
}

#[tokio::test]
async fn optional_steps_opting_out_and_the_existing_constructors_do_not_fail_on_drop() {
    let optional = ParityServer::verified([Step::message("a"), Step::message("b").optional()]).start().await.unwrap();
    post(&optional.base_url(), &codex_body("x"), &[]).await;
    assert!(optional.verify().await.is_ok(), "{}", optional.verify().await);
    assert!(catch_unwind(AssertUnwindSafe(|| drop(optional))).is_ok());

    let opted_out = ParityServer::verified([Step::message("unused")]).verify_on_drop(false).start().await.unwrap();
    assert!(!opted_out.verify().await.is_ok(), "verify() still reports on demand");
    assert!(catch_unwind(AssertUnwindSafe(|| drop(opted_out))).is_ok());

    // What the recorder, `parity serve` and the end-to-end tests build: never verified on drop.
    let scripted = ParityServer::scripted([Step::message("unused")]).start().await.unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| drop(scripted))).is_ok());
}

#[tokio::test]
async fn broken_expectations_and_requests_past_the_end_are_reported() {
    let server = ParityServer::scripted([Step::message("a").expect_header("originator", "codex_exec")])
        .verify_on_drop(true)
        .start()
        .await
        .unwrap();
    post(&server.base_url(), &codex_body("x"), &[("originator", "codex_tui")]).await;
    post(&server.base_url(), &codex_body("x"), &[]).await;
    let report = server.verify().await;
    assert!(report.unused_steps.is_empty(), "the step was used, though refused");
    assert_eq!(report.refused_requests.len(), 2, "{report}");
    assert!(report.refused_requests[0].contains("headers.originator \"codex_exec\" (found \"codex_tui\")"), "{report}");
    assert!(report.refused_requests[1].contains("nothing is left to answer"), "{report}");
    let message = panic_text(catch_unwind(AssertUnwindSafe(|| drop(server))).unwrap_err());
    assert!(message.contains("session 1 request 1:"), "{message}");
}

#[tokio::test]
async fn every_tool_call_is_answered_once_in_the_next_request_and_no_output_lacks_a_call() {
    let calls = Step::function_call("exec_command", json!({"cmd": "ls"}))
        .call_id("c1")
        .then_custom_tool_call("apply_patch", "*** Begin Patch\n*** End Patch\n")
        .call_id("c2");
    let script = [calls.clone(), Step::message("done"), Step::message("again")];
    let server = ParityServer::scripted(script.clone()).start().await.unwrap();
    let call_items = [
        json!({"type": "function_call", "call_id": "c1", "name": "exec_command", "arguments": "{}"}),
        json!({"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch", "input": ""}),
    ];
    post(&server.base_url(), &codex_body("x"), &[]).await;
    let mut second = call_items.to_vec();
    second.extend([
        json!({"type": "function_call_output", "call_id": "c1", "output": "a"}),
        json!({"type": "function_call_output", "call_id": "c1", "output": "a again"}),
        json!({"type": "function_call_output", "call_id": "ghost", "output": "?"}),
    ]);
    post(&server.base_url(), &with_items(&second), &[]).await;
    post(&server.base_url(), &with_items(&second), &[]).await;
    let report = server.verify().await;
    let found: Vec<String> = report.violations.iter().map(ToString::to_string).collect();
    assert_eq!(
        found,
        [
            "session 1 request 2: function_call c1 of the response to request 1 is answered 2 times in its input; \
             exactly one function_call_output was expected",
            "session 1 request 2: custom_tool_call c2 of the response to request 1 has no custom_tool_call_output \
             in its input",
            "session 1 request 2: its input has a function_call_output for call_id ghost, but no call with that id \
             was made",
            "session 1 request 3: its input has a function_call_output for call_id ghost, but no call with that id \
             was made",
        ],
        "{report}"
    );

    let clean = ParityServer::scripted(script).verify_on_drop(true).start().await.unwrap();
    post(&clean.base_url(), &codex_body("x"), &[]).await;
    let mut answered = call_items.to_vec();
    answered.extend([
        json!({"type": "function_call_output", "call_id": "c1", "output": "a"}),
        json!({"type": "custom_tool_call_output", "call_id": "c2", "output": "b"}),
    ]);
    post(&clean.base_url(), &with_items(&answered), &[]).await;
    post(&clean.base_url(), &with_items(&answered), &[]).await;
    let report = clean.verify().await;
    assert!(report.is_ok(), "{report}");
}

#[test]
fn upstream_codex_keeps_the_invariants_in_every_reference_recording() {
    let references = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../captures/codex-0.169.0");
    let mut checked = 0;
    for entry in std::fs::read_dir(&references).unwrap().flatten() {
        let captures = entry.path().join("captures");
        if !captures.is_dir() {
            continue;
        }
        let recording = Recording::load(&captures).unwrap();
        let violations = check_recording(&recording);
        assert!(violations.is_empty(), "{}: {violations:#?}", entry.path().display());
        checked += recording.len();
    }
    assert!(checked >= 40, "only {checked} reference captures were checked");
}
