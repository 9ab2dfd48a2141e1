//! rcodex's thread runtime, driven in process against parity's scripted server: steers, interrupts and queued turns
//! while a response is held open. Each test states what upstream 0.169.0 was seen doing in the recorded app-server
//! scenarios (captures/codex-0.169.0/app-steer-*, app-interrupt-*), where the same operations arrive by JSON-RPC.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use parity_e2e::{Run, scripted};
use parity_server::{Hold, ParityServer, Step, Until};
use rcodex_core::config::Overrides;
use rcodex_core::events::{Event, UserInput};
use rcodex_core::session::TurnError;
use rcodex_core::thread::{SteerError, ThreadHandle};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

fn text(text: &str) -> Vec<UserInput> {
    vec![UserInput::Text { text: text.into() }]
}

/// A thread on a fresh home pointed at `server`, and the events it emits.
fn thread(server: &ParityServer) -> (ThreadHandle, Arc<Mutex<Vec<Event>>>, Run) {
    let run = Run::new(&server.base_url(), "", "");
    let (handle, events) = run.thread(Overrides::default(), None, Default::default());
    (handle, events, run)
}

fn input_texts(request: &Value) -> Vec<String> {
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

/// The last `n` entries of the model request `index`'s input, as `role: text` lines.
async fn tail(server: &ParityServer, index: usize, n: usize) -> Vec<String> {
    let requests = server.model_requests().await;
    let all = input_texts(&requests[index].request.body);
    all[all.len().saturating_sub(n)..].to_vec()
}

fn held(name: &str) -> Hold {
    Hold::named(name).before("response.completed").until(Until::Release).timeout_ms(10_000)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_steer_cuts_the_stream_and_follows_the_partial_answer_in_the_same_turn() {
    // Upstream (app-steer-streaming): the held stream is closed; the next request carries the message received
    // whole, then the steer as a user message; the turn goes on and completes once.
    let s = scripted([
        Step::message("The sea is wide,").hold(held("answer")),
        Step::message("Waves fold into foam."),
        Step::message("You're welcome."),
    ])
    .await;
    let (thread, events, _run) = thread(&s);
    let turn = thread.start_turn(text("Write a long poem about the sea."), None).await.unwrap();
    s.wait_for_hold("answer", WAIT).await.expect("the answer is held");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let steered = thread.steer(text("Actually, make it a haiku."), Some(turn.clone())).await;
    assert_eq!(steered, Ok(turn.clone()));
    let (done, outcome) = tokio::sync::oneshot::channel();
    // A turn queued behind the running one starts after it.
    thread
        .send(rcodex_core::thread::Op::StartTurn {
            input: text("Thanks."),
            output_schema: None,
            overrides: Default::default(),
            started: None,
            done: Some(done),
        })
        .unwrap();
    s.release_all();
    let second = tokio::time::timeout(WAIT, outcome).await.expect("the queued turn ends").unwrap();
    assert!(second.is_ok(), "the queued turn completes: {second:?}");
    let requests = s.model_requests().await;
    assert_eq!(requests.len(), 3, "the held request, the steered one, the queued turn's");
    assert_eq!(
        tail(&s, 1, 3).await,
        ["user: Write a long poem about the sea.", "assistant: The sea is wide,", "user: Actually, make it a haiku."]
    );
    let events = events.lock().unwrap();
    let completed: Vec<_> = events.iter().filter(|e| matches!(e, Event::TurnCompleted { .. })).collect();
    assert_eq!(completed.len(), 2, "the steered turn and the queued one each complete once");
    let steer_message = events.iter().find_map(|e| match e {
        Event::UserMessage { turn_id, input, .. } if input == &text("Actually, make it a haiku.") => Some(turn_id),
        _ => None,
    });
    assert_eq!(steer_message, Some(&turn), "the steer is a user message of the running turn");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_steer_names_the_running_turn_or_is_refused() {
    let s = scripted([Step::message("Working.").hold(held("h")), Step::message("Done.")]).await;
    let (thread, _events, _run) = thread(&s);
    assert_eq!(thread.steer(text("early"), None).await, Err(SteerError::NoActiveTurn), "nothing runs yet");
    let (done, outcome) = tokio::sync::oneshot::channel();
    let turn = thread.start_turn(text("go"), Some(done)).await.unwrap();
    s.wait_for_hold("h", WAIT).await.expect("held");
    assert_eq!(
        thread.steer(text("x"), Some("other-turn".into())).await,
        Err(SteerError::ExpectedTurnMismatch { expected: "other-turn".into(), actual: turn.clone() })
    );
    assert_eq!(thread.steer(Vec::new(), Some(turn.clone())).await, Err(SteerError::EmptyInput));
    s.release_all();
    assert!(outcome.await.unwrap().is_ok(), "the refused steers left the turn alone");
    assert_eq!(s.model_requests().await.len(), 1, "no steer reached the model");
    assert_eq!(thread.interrupt().await, None, "nothing to interrupt once the turn is over");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupt_ends_the_request_and_the_next_turn_says_so() {
    // Upstream (app-interrupt-streaming): the held request is closed, the turn ends as interrupted, and the next
    // turn's request carries the message received so far, then the <turn_aborted> marker, then the new prompt.
    let s = scripted([Step::message("One, two, three, four,").hold(held("count")), Step::message("Done.")]).await;
    let (thread, events, _run) = thread(&s);
    let (done, outcome) = tokio::sync::oneshot::channel();
    let turn = thread.start_turn(text("Count slowly."), Some(done)).await.unwrap();
    s.wait_for_hold("count", WAIT).await.expect("held");
    // The scenario waits the same: what the server sent before the hold has surely been read.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    assert_eq!(thread.interrupt().await, Some(turn.clone()), "answered once the turn has ended");
    assert!(started.elapsed() < Duration::from_secs(2), "the held stream does not keep the turn alive");
    assert_eq!(outcome.await.unwrap(), Err(TurnError::Interrupted));
    assert!(events.lock().unwrap().contains(&Event::TurnAborted { turn_id: turn }));
    let second = thread.run_turn(text("Never mind. Just say done.")).await.unwrap().expect("the next turn completes");
    assert_eq!(second.last_message.as_deref(), Some("Done."));
    let tail = tail(&s, 1, 3).await;
    assert_eq!(tail[0], "assistant: One, two, three, four,");
    assert!(tail[1].starts_with("user: <turn_aborted>"), "{tail:?}");
    assert_eq!(tail[2], "user: Never mind. Just say done.");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupt_ends_a_running_command_and_answers_its_call_as_aborted() {
    // Upstream (app-interrupt-command): the call gets `Wall time: ... seconds\naborted by user`, then the marker.
    let s = scripted([
        Step::function_call("exec_command", serde_json::json!({"cmd": "sleep 30", "yield_time_ms": 20000}))
            .call_id("call_long")
            .hold(held("running")),
        Step::message("Done."),
    ])
    .await;
    let (thread, _events, _run) = thread(&s);
    thread.start_turn(text("Run the long test suite."), None).await.unwrap();
    s.wait_for_hold("running", WAIT).await.expect("held");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    assert!(thread.interrupt().await.is_some());
    assert!(started.elapsed() < Duration::from_secs(5), "the command does not run its 30 s");
    thread.run_turn(text("Stop that.")).await.unwrap().expect("the next turn completes");
    let tail = tail(&s, 1, 3).await;
    assert!(tail[0].starts_with("output: Wall time: ") && tail[0].ends_with(" seconds\naborted by user"), "{tail:?}");
    assert!(tail[1].starts_with("user: <turn_aborted>"), "{tail:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_steer_while_a_command_runs_waits_for_its_output() {
    // Upstream (app-steer-command): the stream is closed, the command finishes, and the steer follows its output.
    let s = scripted([
        Step::function_call(
            "exec_command",
            serde_json::json!({"cmd": "sleep 1; echo build ok", "yield_time_ms": 10000}),
        )
        .call_id("call_build")
        .hold(held("running")),
        Step::message("It took a second."),
    ])
    .await;
    let (thread, _events, _run) = thread(&s);
    let turn = thread.start_turn(text("Run the slow build."), None).await.unwrap();
    s.wait_for_hold("running", WAIT).await.expect("held");
    tokio::time::sleep(Duration::from_millis(300)).await;
    thread.steer(text("Also tell me how long it took."), Some(turn)).await.unwrap();
    let (done, outcome) = tokio::sync::oneshot::channel();
    thread
        .send(rcodex_core::thread::Op::StartTurn {
            input: text("ok"),
            output_schema: None,
            overrides: Default::default(),
            started: None,
            done: Some(done),
        })
        .unwrap();
    drop(outcome);
    tokio::time::timeout(WAIT, async {
        while s.model_requests().await.len() < 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the steered request is sent without the hold's release");
    let tail = tail(&s, 1, 2).await;
    assert!(tail[0].starts_with("output: ") && tail[0].contains("build ok"), "{tail:?}");
    assert_eq!(tail[1], "user: Also tell me how long it took.");
    thread.shutdown().await;
}
