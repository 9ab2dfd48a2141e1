//! Approvals through rcodex's thread runtime, driven in process against parity's scripted server: a tool asks, the
//! frontend answers with `Op::Resolve`, and the answer shapes what the model reads next. Each test states what
//! upstream 0.169.0 was seen doing in the recorded app-server scenarios (captures/codex-0.169.0/app-approvals,
//! app-patch-approval), where the same answers arrive by JSON-RPC.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use parity_e2e::{Run, scripted};
use parity_server::{ParityServer, Step};
use rcodex_core::config::{ApprovalPolicy, Overrides, SandboxMode};
use rcodex_core::events::{Event, ItemDetails, Status, UserInput};
use rcodex_core::interaction::{Answer, ApprovalDecision, Interaction, ResolveError};
use rcodex_core::session::TurnError;
use rcodex_core::thread::ThreadHandle;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

fn text(text: &str) -> Vec<UserInput> {
    vec![UserInput::Text { text: text.into() }]
}

/// A thread under workspace-write and on-request whose frontend answers, and the events it emits.
fn thread(server: &ParityServer) -> (ThreadHandle, Arc<Mutex<Vec<Event>>>, Run) {
    let run = Run::new(&server.base_url(), "", "");
    let overrides = Overrides {
        sandbox_mode: Some(SandboxMode::WorkspaceWrite),
        approval_policy: Some(ApprovalPolicy::OnRequest),
        ..Default::default()
    };
    let interaction = Interaction { answered: true, ..Interaction::default() };
    let (handle, events) = run.thread(overrides, None, interaction);
    (handle, events, run)
}

/// Waits for the next approval request not seen yet; returns its id and turn.
async fn next_request(events: &Arc<Mutex<Vec<Event>>>, seen: usize) -> (String, String) {
    tokio::time::timeout(WAIT, async {
        loop {
            let found = events
                .lock()
                .unwrap()
                .iter()
                .filter_map(|e| match e {
                    Event::ApprovalRequested { request_id, turn_id, .. } => Some((request_id.clone(), turn_id.clone())),
                    _ => None,
                })
                .nth(seen);
            if let Some(found) = found {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the tool asks")
}

fn escalated(cmd: &str, call_id: &str) -> Step {
    Step::function_call(
        "exec_command",
        json!({"cmd": cmd, "sandbox_permissions": "require_escalated", "justification": "Outside the workspace."}),
    )
    .call_id(call_id)
}

/// The output the last request carries for `call_id`.
async fn output(server: &ParityServer, call_id: &str) -> String {
    let requests = server.model_requests().await;
    let input: &Value = &requests.last().unwrap().request.body["input"];
    let item = input.as_array().unwrap().iter().find(|i| i["call_id"] == call_id && i["output"].is_string());
    item.unwrap_or_else(|| panic!("no output for {call_id}"))["output"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_reach_the_waiting_tool_and_shape_its_output() {
    // Upstream (app-approvals): the first escalated command accepted runs (outside the sandbox), the second
    // declined is answered "exec_command failed: CreateProcess { message: \"Rejected(\\\"rejected by user\\\")\" }",
    // and the turn goes on to the model's answer.
    let s = scripted([
        escalated("echo hooks configured", "call_hooks"),
        escalated("echo editor configured", "call_editor").expect_function_call_output("call_hooks"),
        Step::message("Done.").expect_function_call_output("call_editor"),
    ])
    .await;
    let (thread, events, _run) = thread(&s);
    let (done, outcome) = tokio::sync::oneshot::channel();
    let turn = thread.start_turn(text("Set up my global git hooks and editor."), Some(done)).await.unwrap();

    let (first, on) = next_request(&events, 0).await;
    assert_eq!(on, turn, "the request names its turn");
    assert_eq!(thread.resolve(&first, Answer::Approval(ApprovalDecision::Accept)).await, Ok(()));
    let (second, _) = next_request(&events, 1).await;
    let wrong = thread.resolve(&second, Answer::UserInput(Default::default())).await;
    assert!(matches!(wrong, Err(ResolveError::WrongKind { .. })), "{wrong:?}");
    assert_eq!(thread.resolve(&second, Answer::Approval(ApprovalDecision::Decline)).await, Ok(()));

    let outcome = tokio::time::timeout(WAIT, outcome).await.expect("the turn ends").unwrap();
    assert!(outcome.is_ok(), "{outcome:?}");
    let requests = s.model_requests().await;
    assert_eq!(requests.len(), 3);
    let hooks = output(&s, "call_hooks").await;
    assert!(
        hooks.ends_with("Process exited with code 0\nOriginal token count: 5\nOutput:\nhooks configured\n"),
        "{hooks}"
    );
    assert_eq!(
        output(&s, "call_editor").await,
        r#"exec_command failed: CreateProcess { message: "Rejected(\"rejected by user\")" }"#
    );
    assert_eq!(
        thread.resolve(&first, Answer::Approval(ApprovalDecision::Accept)).await,
        Err(ResolveError::Unknown(first))
    );
    let declined = events.lock().unwrap().iter().any(|e| {
        matches!(e, Event::ItemCompleted { item } if item.source_id.as_deref() == Some("call_editor")
            && matches!(item.details, ItemDetails::CommandExecution { status: Status::Declined, .. }))
    });
    assert!(declined, "the declined command is shown declined");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupt_or_a_cancel_ends_the_wait_and_the_turn() {
    // Upstream (a `cancel` answered to app-approvals' request, then its session file): the command is shown
    // declined, the turn ends interrupted, and the call is answered "Wall time: 0.1 seconds\naborted by user"
    // before the <turn_aborted> message. An interrupt while the request waits ends it the same way.
    let s = scripted([
        escalated("echo one", "call_one"),
        escalated("echo two", "call_two").expect_input_contains("<turn_aborted>"),
        Step::message("Stopped.").expect_input_contains("<turn_aborted>"),
    ])
    .await;
    let (thread, events, _run) = thread(&s);

    let first = thread.run_turn(text("Run one."));
    let interrupt = async {
        let (request, _) = next_request(&events, 0).await;
        let interrupted = thread.interrupt().await;
        (request, interrupted)
    };
    let (outcome, (request, interrupted)) = tokio::join!(first, interrupt);
    assert_eq!(outcome.unwrap(), Err(TurnError::Interrupted));
    assert!(interrupted.is_some(), "a turn was running");
    let late = thread.resolve(&request, Answer::Approval(ApprovalDecision::Accept)).await;
    assert_eq!(late, Err(ResolveError::Unknown(request)), "the request went with its turn");

    let second = thread.run_turn(text("Run two."));
    let cancel = async {
        let (request, _) = next_request(&events, 1).await;
        thread.resolve(&request, Answer::Approval(ApprovalDecision::Cancel)).await
    };
    let (outcome, cancelled) = tokio::join!(second, cancel);
    assert_eq!(cancelled, Ok(()));
    assert_eq!(outcome.unwrap(), Err(TurnError::Interrupted), "a cancel ends the turn");

    let third = tokio::time::timeout(WAIT, thread.run_turn(text("Well?"))).await.expect("the turn ends").unwrap();
    assert!(third.is_ok(), "{third:?}");
    for call_id in ["call_one", "call_two"] {
        let aborted = output(&s, call_id).await;
        assert!(aborted.starts_with("Wall time: ") && aborted.ends_with(" seconds\naborted by user"), "{aborted}");
    }
    let declined = events.lock().unwrap().iter().any(|e| {
        matches!(e, Event::ItemCompleted { item } if item.source_id.as_deref() == Some("call_two")
            && matches!(item.details, ItemDetails::CommandExecution { status: Status::Declined, .. }))
    });
    assert!(declined, "the cancelled command is shown declined");
    let aborted = events.lock().unwrap().iter().filter(|e| matches!(e, Event::TurnAborted { .. })).count();
    assert_eq!(aborted, 2);
}
