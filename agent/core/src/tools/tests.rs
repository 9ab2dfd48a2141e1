use std::sync::{Arc, Mutex};

use super::*;
use crate::config::{ApprovalPolicy, Overrides, SandboxMode};
use crate::events::{Event, ItemDetails};
use crate::interaction::{Asker, Interaction};

struct Fixture {
    _home: tempfile::TempDir,
    work: tempfile::TempDir,
    runtime: ToolRuntime,
    events: Arc<Mutex<Vec<Event>>>,
}

fn fixture(mode: SandboxMode, approval: Option<ApprovalPolicy>) -> Fixture {
    fixture_with(mode, approval, Interaction::default())
}

fn fixture_with(mode: SandboxMode, approval: Option<ApprovalPolicy>, interaction: Interaction) -> Fixture {
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
    let events_sink = EventSink::new(move |e| sink.lock().unwrap().push(e));
    let runtime = ToolRuntime::new(RuntimeOptions {
        config: &config,
        pack: rcodex_prompt_pack::embedded(),
        family_slug: "gpt-5.5".into(),
        image_input: true,
        thread_id: "thread-1".into(),
        events: events_sink.clone(),
        sandbox_launcher: "/nonexistent/launcher".into(),
        asker: Arc::new(Asker::new(events_sink, interaction)),
        agents: None,
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
    // A frontend that answers does not help under a policy that does not let the model ask.
    let answered = Interaction { answered: true, ..Interaction::default() };
    let f = fixture_with(SandboxMode::WorkspaceWrite, Some(ApprovalPolicy::OnFailure), answered);
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

/// A frontend that answers, and `request_user_input` offered in Default mode.
fn answering() -> Interaction {
    Interaction { answered: true, default_mode_request_user_input: true, mcp_approvals: false }
}

/// Answers each request the tools make, in order, as the frontend would; returns the requests.
async fn answer(f: &Fixture, answers: Vec<crate::interaction::Answer>) -> Vec<Event> {
    let mut requests = Vec::new();
    for answer in answers {
        let request = loop {
            let waiting = f.runtime.asker().waiting();
            let found = f.events.lock().unwrap().iter().find_map(|e| match e {
                Event::ApprovalRequested { request_id, .. } | Event::UserInputRequested { request_id, .. }
                    if waiting.contains(request_id) =>
                {
                    Some(e.clone())
                }
                _ => None,
            });
            match found {
                Some(request) => break request,
                None => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
            }
        };
        f.runtime.asker().resolve(request_id_of(&request), answer).unwrap();
        requests.push(request);
    }
    requests
}

fn request_id_of(event: &Event) -> &str {
    match event {
        Event::ApprovalRequested { request_id, .. } | Event::UserInputRequested { request_id, .. } => request_id,
        _ => "",
    }
}

fn decision(d: crate::interaction::ApprovalDecision) -> crate::interaction::Answer {
    crate::interaction::Answer::Approval(d)
}

/// Waits (up to 2 s) until `count` items have completed: a command's end is reported by a task of its own.
async fn completed(f: &Fixture, count: usize) {
    for _ in 0..400 {
        if f.events.lock().unwrap().iter().filter(|e| matches!(e, Event::ItemCompleted { .. })).count() >= count {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// The command and file-change items of the events: (started or completed, id, status, source id).
fn command_items(f: &Fixture) -> Vec<(&'static str, String, crate::events::Status, Option<String>)> {
    f.events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::ItemStarted { item } | Event::ItemCompleted { item } => match &item.details {
                ItemDetails::CommandExecution { status, .. } | ItemDetails::FileChange { status, .. } => {
                    let stage = if matches!(e, Event::ItemStarted { .. }) { "started" } else { "completed" };
                    Some((stage, item.id.clone(), *status, item.source_id.clone()))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// As app-approvals recorded it: an escalated command is shown, asked about (naming the turn and call, with the
/// justification, the proposed rule and upstream's decisions), then run outside the sandbox once accepted, or
/// answered upstream's rejection once declined.
#[tokio::test]
async fn an_escalated_command_asks_and_the_decision_shapes_its_output() {
    use crate::events::Status;
    use crate::interaction::{ApprovalDecision, ApprovalKind};
    let f = fixture_with(SandboxMode::WorkspaceWrite, Some(ApprovalPolicy::OnRequest), answering());
    f.runtime.asker().begin_turn("turn-1", Default::default());
    let tools = offered(&["exec_command"]);
    let escalate =
        |cmd: &str| json!({"cmd": cmd, "sandbox_permissions": "require_escalated", "justification": "J."}).to_string();

    let hooks = call("exec_command", CallKind::Function, &escalate("echo hooks configured"));
    let (out, requests) =
        tokio::join!(f.runtime.call(&hooks, &tools), answer(&f, vec![decision(ApprovalDecision::Accept)]));
    let Event::ApprovalRequested { turn_id, item_id, kind, .. } = &requests[0] else { unreachable!() };
    assert_eq!((turn_id.as_str(), item_id.as_str()), ("turn-1", "call_exec_command"));
    let ApprovalKind::Command { command, cwd, reason, proposed_execpolicy_amendment, available_decisions, .. } = kind
    else {
        panic!("{kind:?}")
    };
    assert_eq!(command, "/bin/bash -lc 'echo hooks configured'");
    assert_eq!((cwd.as_path(), reason.as_deref()), (f.work.path(), Some("J.")));
    let rule: Vec<String> = ["echo", "hooks", "configured"].map(String::from).to_vec();
    assert_eq!(proposed_execpolicy_amendment.as_ref(), Some(&rule));
    assert_eq!(
        available_decisions,
        &[
            ApprovalDecision::Accept,
            ApprovalDecision::AcceptWithExecpolicyAmendment { execpolicy_amendment: rule },
            ApprovalDecision::Cancel
        ]
    );
    assert!(text(&out).ends_with("Process exited with code 0\nOriginal token count: 5\nOutput:\nhooks configured\n"));
    completed(&f, 1).await;
    let source = Some("call_exec_command".to_string());
    assert_eq!(
        command_items(&f),
        [
            ("started", "item_0".into(), Status::InProgress, source.clone()),
            ("completed", "item_0".into(), Status::Completed, source.clone())
        ],
        "shown once, while asking; completed once it ran"
    );

    f.events.lock().unwrap().clear();
    let editor = call("exec_command", CallKind::Function, &escalate("echo editor configured"));
    let (out, _) = tokio::join!(f.runtime.call(&editor, &tools), answer(&f, vec![decision(ApprovalDecision::Decline)]));
    assert_eq!(text(&out), r#"exec_command failed: CreateProcess { message: "Rejected(\"rejected by user\")" }"#);
    assert_eq!(
        command_items(&f),
        [
            ("started", "item_1".into(), Status::InProgress, source.clone()),
            ("completed", "item_1".into(), Status::Declined, source)
        ]
    );
}

/// Under `untrusted` every command asks, without a reason, whatever the sandbox; approved, it runs outside the
/// sandbox (app-approvals-untrusted, app-approvals-untrusted-read-only).
#[tokio::test]
async fn under_untrusted_every_command_asks_and_runs_unsandboxed_once_approved() {
    use crate::interaction::{ApprovalDecision, ApprovalKind};
    let f = fixture_with(SandboxMode::ReadOnly, Some(ApprovalPolicy::Untrusted), answering());
    f.runtime.asker().begin_turn("turn-1", Default::default());
    let tools = offered(&["exec_command"]);
    let touch = call("exec_command", CallKind::Function, &json!({"cmd": "touch made.txt"}).to_string());
    let (out, requests) =
        tokio::join!(f.runtime.call(&touch, &tools), answer(&f, vec![decision(ApprovalDecision::Accept)]));
    let Event::ApprovalRequested { kind: ApprovalKind::Command { reason, available_decisions, .. }, .. } = &requests[0]
    else {
        panic!("{:?}", requests[0])
    };
    assert_eq!(reason, &None);
    assert_eq!(available_decisions.len(), 3, "accept, accept with the rule, cancel: {available_decisions:?}");
    assert!(text(&out).contains("Process exited with code 0"), "{}", text(&out));
    assert!(f.work.path().join("made.txt").exists(), "approved, it ran outside the read-only sandbox");

    let list = call("exec_command", CallKind::Function, &json!({"cmd": "ls"}).to_string());
    let (out, requests) =
        tokio::join!(f.runtime.call(&list, &tools), answer(&f, vec![decision(ApprovalDecision::Decline)]));
    assert_eq!(requests.len(), 1, "a command known to be safe asks too");
    assert_eq!(text(&out), r#"exec_command failed: CreateProcess { message: "Rejected(\"rejected by user\")" }"#);
}

/// `acceptForSession` approves the same command for the rest of the session; an approved rule lets commands it
/// covers run outside the sandbox unasked.
#[tokio::test]
async fn approvals_for_the_session_and_rules_are_not_asked_again() {
    use crate::interaction::ApprovalDecision;
    let f = fixture_with(SandboxMode::WorkspaceWrite, Some(ApprovalPolicy::OnRequest), answering());
    let tools = offered(&["exec_command"]);
    let escalate = |cmd: &str| json!({"cmd": cmd, "sandbox_permissions": "require_escalated"}).to_string();
    let one = call("exec_command", CallKind::Function, &escalate("echo one"));
    let (_, asked) =
        tokio::join!(f.runtime.call(&one, &tools), answer(&f, vec![decision(ApprovalDecision::AcceptForSession)]));
    assert_eq!(asked.len(), 1);
    let out = f.runtime.call(&one, &tools).await;
    assert!(text(&out).ends_with("Output:\none\n"), "not asked again: {out:?}");

    let rule = ApprovalDecision::AcceptWithExecpolicyAmendment { execpolicy_amendment: vec!["printf".into()] };
    let first = call("exec_command", CallKind::Function, &escalate("printf a"));
    let _ = tokio::join!(f.runtime.call(&first, &tools), answer(&f, vec![decision(rule)]));
    // Covered by the rule, even unescalated: it runs outside the (here unusable) sandbox without asking.
    let covered = call("exec_command", CallKind::Function, &json!({"cmd": "printf b"}).to_string());
    let out = f.runtime.call(&covered, &tools).await;
    assert!(text(&out).ends_with("Output:\nb"), "{out:?}");
    let requests = f.events.lock().unwrap().iter().filter(|e| matches!(e, Event::ApprovalRequested { .. })).count();
    assert_eq!(requests, 2);
}

/// `cancel` shows the command declined and ends the turn, as an interrupt does; the call itself never answers (the
/// turn answers it as interrupted).
#[tokio::test]
async fn a_cancelled_approval_ends_the_turn() {
    use crate::interaction::ApprovalDecision;
    let f = fixture_with(SandboxMode::ReadOnly, Some(ApprovalPolicy::OnRequest), answering());
    let cancel = tokio_util::sync::CancellationToken::new();
    f.runtime.asker().begin_turn("turn-1", cancel.clone());
    let tools = offered(&["exec_command", "apply_patch"]);
    let escalated = json!({"cmd": "echo one", "sandbox_permissions": "require_escalated"}).to_string();
    let command = call("exec_command", CallKind::Function, &escalated);
    let waited = tokio::time::timeout(std::time::Duration::from_millis(300), f.runtime.call(&command, &tools));
    let (out, _) = tokio::join!(waited, answer(&f, vec![decision(ApprovalDecision::Cancel)]));
    assert!(out.is_err() && cancel.is_cancelled(), "the call waits for the turn's end, which the cancel started");
    let statuses: Vec<_> = command_items(&f).into_iter().map(|(stage, _, status, _)| (stage, status)).collect();
    use crate::events::Status;
    assert_eq!(statuses, [("started", Status::InProgress), ("completed", Status::Declined)]);
}

/// As app-patch-approval recorded it: a patch the sandbox refuses is shown, asked about (no reason, no root), and
/// applied as it is once accepted; declined, it is refused with upstream's words and shown declined. A patch on
/// files approved for the session is not asked again.
#[tokio::test]
async fn a_patch_the_sandbox_refuses_asks() {
    use crate::events::Status;
    use crate::interaction::{ApprovalDecision, ApprovalKind};
    let f = fixture_with(SandboxMode::ReadOnly, Some(ApprovalPolicy::OnRequest), answering());
    let tools = offered(&["apply_patch"]);
    let add = |name: &str| {
        call(
            "apply_patch",
            CallKind::Custom,
            &format!("*** Begin Patch\n*** Add File: {name}\n+hello\n*** End Patch\n"),
        )
    };
    let notes = add("notes.txt");
    let (out, requests) =
        tokio::join!(f.runtime.call(&notes, &tools), answer(&f, vec![decision(ApprovalDecision::AcceptForSession)]));
    assert_eq!(
        text(&out),
        "Exit code: 0\nWall time: 0 seconds\nOutput:\nSuccess. Updated the following files:\nA notes.txt\n"
    );
    assert_eq!(std::fs::read_to_string(f.work.path().join("notes.txt")).unwrap(), "hello\n");
    let Event::ApprovalRequested { kind: ApprovalKind::Patch { changes, reason, grant_root }, .. } = &requests[0]
    else {
        panic!("{requests:?}")
    };
    assert_eq!((changes.len(), reason, grant_root), (1, &None, &None));
    assert_eq!(
        (changes[0].path.as_str(), changes[0].diff.as_str()),
        (f.work.path().join("notes.txt").to_str().unwrap(), "hello\n")
    );
    let statuses: Vec<_> = command_items(&f).into_iter().map(|(stage, id, status, _)| (stage, id, status)).collect();
    assert_eq!(
        statuses,
        [("started", "item_0".into(), Status::InProgress), ("completed", "item_0".into(), Status::Completed)]
    );

    let out = f.runtime.call(&add("notes.txt"), &tools).await;
    assert!(text(&out).starts_with("Exit code: 0"), "the same file: not asked again: {out:?}");

    f.events.lock().unwrap().clear();
    let other = add("other.txt");
    let (out, _) = tokio::join!(f.runtime.call(&other, &tools), answer(&f, vec![decision(ApprovalDecision::Decline)]));
    assert_eq!(text(&out), "patch rejected by user");
    assert!(!f.work.path().join("other.txt").exists());
    let statuses: Vec<_> = command_items(&f).into_iter().map(|(stage, _, status, _)| (stage, status)).collect();
    assert_eq!(statuses, [("started", Status::InProgress), ("completed", Status::Declined)]);
}

/// As upstream answers them under on-request: extra permissions are not on offer, and where nobody answers
/// (exec), escalation is refused as under `never` and a patch outside the sandbox is refused without asking.
#[tokio::test]
async fn what_is_not_asked() {
    let f = fixture_with(SandboxMode::ReadOnly, Some(ApprovalPolicy::OnRequest), answering());
    let tools = offered(&["exec_command", "apply_patch"]);
    let more = json!({"cmd": "echo hi", "sandbox_permissions": "with_additional_permissions",
        "additional_permissions": {"network": {"enabled": true}}});
    let out = f.runtime.call(&call("exec_command", CallKind::Function, &more.to_string()), &tools).await;
    assert_eq!(
        text(&out),
        "additional permissions are disabled; enable `features.exec_permission_approvals` before using `with_additional_permissions`"
    );

    let f = fixture_with(SandboxMode::ReadOnly, Some(ApprovalPolicy::OnRequest), Interaction::default());
    let escalated = json!({"cmd": "echo one", "sandbox_permissions": "require_escalated"}).to_string();
    let out = f.runtime.call(&call("exec_command", CallKind::Function, &escalated), &tools).await;
    assert!(text(&out).starts_with("approval policy is Never; reject command"), "{out:?}");
    let patch = "*** Begin Patch\n*** Add File: a.txt\n+a\n*** End Patch\n";
    let out = f.runtime.call(&call("apply_patch", CallKind::Custom, patch), &tools).await;
    assert!(text(&out).contains("writing is blocked by read-only sandbox"), "{out:?}");
    assert!(!f.events.lock().unwrap().iter().any(|e| matches!(e, Event::ApprovalRequested { .. })));
}

/// As app-request-user-input recorded it: with `default_mode_request_user_input`, the questions go to the frontend
/// (a free-form answer offered besides the options) and its answers back to the model as JSON; the arguments and
/// options are checked first, with upstream's words. Nobody to ask: empty answers.
#[tokio::test]
async fn request_user_input_asks_the_frontend() {
    use crate::interaction::{Answer, UserInputAnswers};
    let f = fixture_with(SandboxMode::ReadOnly, None, answering());
    let tools = offered(&["request_user_input"]);
    let ask = json!({"questions": [{"id": "color", "header": "Color", "question": "Which color do you prefer?",
        "options": [{"label": "Blue (Recommended)", "description": "Calm."}, {"label": "Red", "description": "Bold."}]}]});
    let ask = call("request_user_input", CallKind::Function, &ask.to_string());
    let answers = Answer::UserInput(UserInputAnswers::new([("color", ["Red"])]));
    let (out, requests) = tokio::join!(f.runtime.call(&ask, &tools), answer(&f, vec![answers]));
    assert_eq!(text(&out), r#"{"answers":{"color":{"answers":["Red"]}}}"#);
    let Event::UserInputRequested { item_id, questions, .. } = &requests[0] else { unreachable!() };
    assert_eq!(
        (item_id.as_str(), questions[0].is_other, questions[0].is_secret),
        ("call_request_user_input", true, false)
    );

    let bad = call("request_user_input", CallKind::Function, r#"{"questions":"nope"}"#);
    assert_eq!(
        text(&f.runtime.call(&bad, &tools).await),
        "failed to parse function arguments: invalid type: string \"nope\", expected a sequence at line 1 column 19"
    );
    let no_options = json!({"questions": [{"id": "c", "header": "C", "question": "?", "options": []}]});
    let no_options = call("request_user_input", CallKind::Function, &no_options.to_string());
    assert_eq!(
        text(&f.runtime.call(&no_options, &tools).await),
        "request_user_input requires non-empty options for every question"
    );

    let nobody = Interaction { answered: false, default_mode_request_user_input: true, mcp_approvals: false };
    let f = fixture_with(SandboxMode::ReadOnly, None, nobody);
    assert_eq!(text(&f.runtime.call(&ask, &tools).await), r#"{"answers":{}}"#, "as upstream's exec answers");
}
