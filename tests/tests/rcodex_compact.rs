//! rcodex's compaction (`Op::Compact`, the app server's `thread/compact/start`), driven in process against parity's
//! scripted server, and the thread resumed after it (in process, and by `exec resume`). What upstream 0.169.0 sends is
//! read from its recording of the same conversation (captures/codex-0.169.0/app-compact): the compaction request
//! ends with its prompt, and the next turn's request holds a fresh context, the user's messages, the summary after
//! its prefix, then the new prompt.

use std::time::Duration;

use parity_e2e::{Run, outcome, repo, scripted};
use parity_server::{Hold, ParityServer, Step, Until};
use rcodex_core::config::Overrides;
use rcodex_core::events::{Event, UserInput};
use rcodex_core::session::TurnError;
use rcodex_core::thread::{SteerError, ThreadHandle};
use serde_json::Value;
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(10);

fn text(text: &str) -> Vec<UserInput> {
    vec![UserInput::Text { text: text.into() }]
}

/// A model request of upstream's recording of app-compact (1: the first turn's, 2: the compaction's, 3: the next
/// turn's).
fn upstream_request(n: usize) -> Value {
    let path =
        repo().join(format!("captures/codex-0.169.0/app-compact/captures/session-01/000{n}-post-responses.json"));
    let capture: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    capture["request"]["body"].clone()
}

fn input(body: &Value) -> &Vec<Value> {
    body["input"].as_array().expect("an input list")
}

fn text_of(item: &Value) -> &str {
    item["content"][0]["text"].as_str().unwrap_or_default()
}

/// A request's turn metadata.
fn metadata(body: &Value) -> Value {
    serde_json::from_str(body["client_metadata"]["x-codex-turn-metadata"].as_str().unwrap()).unwrap()
}

async fn bodies(server: &ParityServer) -> Vec<Value> {
    server.model_requests().await.into_iter().map(|c| c.request.body).collect()
}

/// Runs a compaction to its end.
async fn compact(thread: &ThreadHandle) -> Result<rcodex_core::session::TurnSummary, TurnError> {
    let (done, outcome) = oneshot::channel();
    thread.compact(None, Some(done)).unwrap();
    tokio::time::timeout(WAIT, outcome).await.expect("the compaction ends").unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_compaction_replaces_the_history_with_a_summary_and_a_resumed_thread_goes_on_from_it() {
    let summary = "The user asked me to remember the number 42.";
    let s = scripted([
        Step::message("Noted: 42."),
        Step::message(summary),
        Step::message("You asked me to remember 42."),
        Step::message("42 again."),
        Step::message("Still 42."),
    ])
    .await;
    let run = Run::new(&s.base_url(), "", "");
    let (first, events) = run.thread(Overrides::default(), None, Default::default());
    first.run_turn(text("Remember the number 42.")).await.unwrap().expect("the first turn completes");
    let compacted = compact(&first).await.expect("the compaction completes");
    assert_eq!(compacted.last_message, None, "a compaction answers nothing");
    first.run_turn(text("What number did I ask you to remember?")).await.unwrap().expect("the next turn completes");

    let requests = bodies(&s).await;
    assert_eq!(requests.len(), 3);
    let (turn, compaction, next) = (&requests[0], &requests[1], &requests[2]);

    // The compaction request: the history, then upstream's prompt as a user message of its own; no tools.
    let sent = input(compaction);
    assert_eq!(&sent[..input(turn).len()], &input(turn)[..], "the history as the first turn left it");
    assert_eq!(sent[sent.len() - 2]["role"], "assistant");
    assert_eq!(sent.last(), input(&upstream_request(2)).last(), "upstream's prompt, as upstream sends it");
    assert_eq!(compaction["tools"], serde_json::json!([]));
    assert_eq!(compaction["parallel_tool_calls"], false);
    let m = metadata(compaction);
    assert_eq!(m["request_kind"], "compaction");
    assert_eq!(m["compaction"]["trigger"], "manual");
    assert!(m.get("model").is_none() && m.get("reasoning_effort").is_none(), "{m}");
    assert_eq!(m["window_number"], 0);

    // The next turn: the instructions (same id), a fresh context (new ids), the user's message (its id), the summary
    // after upstream's prefix, the new prompt.
    let first_input = input(turn);
    let sent = input(next);
    assert_eq!(sent.len(), 6, "{sent:#?}");
    assert_eq!(sent[0], first_input[0], "the instructions, as they were");
    for i in [1, 2] {
        assert_eq!(sent[i]["content"], first_input[i]["content"], "the context again");
        assert_ne!(sent[i]["id"], first_input[i]["id"], "under a new id");
    }
    assert_eq!(sent[3], first_input[3], "the user's message, as it was");
    assert_eq!(text_of(&sent[4]), text_of(&input(&upstream_request(3))[4]), "the summary after upstream's prefix");
    assert!(text_of(&sent[4]).ends_with(summary));
    assert_eq!(text_of(&sent[5]), "What number did I ask you to remember?");
    let (before, after) = (metadata(compaction), metadata(next));
    assert_eq!(after["window_number"], 1, "a new context window");
    assert_ne!(after["context_window_id"], before["context_window_id"]);
    assert!(next["client_metadata"]["x-codex-window-id"].as_str().unwrap().ends_with(":1"));

    // Told as a turn of its own, with the compaction as its item and the new history's size as the last usage.
    {
        let events = events.lock().unwrap();
        let started = events.iter().position(|e| matches!(e, Event::CompactionStarted { .. })).unwrap();
        let completed = events.iter().position(|e| matches!(e, Event::CompactionCompleted { .. })).unwrap();
        assert!(matches!(events[started - 1], Event::TurnStarted { .. }), "{:?}", &events[started - 1]);
        assert!(matches!(events[completed + 1], Event::TurnCompleted { .. }), "{:?}", &events[completed + 1]);
        let estimate = events[started..completed].iter().rev().find_map(|e| match e {
            Event::TokenUsage { last, last_tokens, .. } => Some((last.input_tokens, *last_tokens)),
            _ => None,
        });
        assert!(matches!(estimate, Some((0, n)) if n > 1000), "{estimate:?}");
    }

    // Resumed in another thread, the conversation goes on from the summary, in the same context window.
    let path = first.rollout_path().unwrap().to_path_buf();
    first.shutdown().await;
    let (resumed, _events) = run.thread(Overrides::default(), Some(path), Default::default());
    resumed.run_turn(text("And again?")).await.unwrap().expect("the resumed turn completes");
    let requests = bodies(&s).await;
    let again = &requests[3];
    let sent = input(again);
    assert_eq!(&sent[..6], &input(next)[..], "the compacted history, its ids included, and the turn after it");
    assert_eq!(sent[6]["role"], "assistant");
    assert_eq!(text_of(&sent[7]), "And again?");
    let m = metadata(again);
    assert_eq!((m["window_number"].clone(), m["history_initialization"].clone()), (1.into(), "cold_resume".into()));
    assert_eq!(m["context_window_id"], after["context_window_id"]);
    resumed.shutdown().await;

    // So does `exec resume`.
    let resumed =
        outcome(run.rcodex(&["exec", "resume", "--last", "--skip-git-repo-check", "--json", "One more time?"])).await;
    assert_eq!(resumed.code, Some(0), "{}", resumed.explain());
    let requests = bodies(&s).await;
    let sent = input(&requests[4]);
    assert_eq!(&sent[..8], &input(again)[..], "{sent:#?}");
    assert!(!sent.iter().any(|item| text_of(item) == "Remember the number 42." && item["role"] == "assistant"));
    assert_eq!(sent.iter().filter(|item| text_of(item).ends_with(summary)).count(), 1, "one summary");
}

fn held(name: &str) -> Hold {
    Hold::named(name).before("response.completed").until(Until::Release).timeout_ms(10_000)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_compaction_takes_no_steer_and_an_interrupted_one_leaves_the_history_as_it_was() {
    let s = scripted([
        Step::message("Noted: 7."),
        Step::message("A summary never finished.").hold(held("summary")),
        Step::message("7."),
    ])
    .await;
    let run = Run::new(&s.base_url(), "", "");
    let (thread, events) = run.thread(Overrides::default(), None, Default::default());
    thread.run_turn(text("Remember 7.")).await.unwrap().expect("the first turn completes");
    let (started, turn) = oneshot::channel();
    let (done, outcome) = oneshot::channel();
    thread.compact(Some(started), Some(done)).unwrap();
    let turn = turn.await.unwrap();
    s.wait_for_hold("summary", WAIT).await.expect("the compaction's response is held");
    assert_eq!(thread.steer(text("Also remember 8."), Some(turn.clone())).await, Err(SteerError::Compacting));
    assert_eq!(thread.interrupt().await, Some(turn.clone()), "answered once the compaction has ended");
    assert_eq!(outcome.await.unwrap(), Err(TurnError::Interrupted));
    assert!(events.lock().unwrap().contains(&Event::TurnAborted { turn_id: turn }));
    s.release_all();

    thread.run_turn(text("Which number?")).await.unwrap().expect("the next turn completes");
    let requests = bodies(&s).await;
    let (first, after) = (input(&requests[0]), input(&requests[2]));
    assert_eq!(&after[..first.len()], &first[..], "the history as it was");
    assert_eq!(after.len(), first.len() + 2, "the answer and the new prompt, no summary or marker: {after:#?}");
    assert_eq!(text_of(&after[first.len() + 1]), "Which number?");
    assert_eq!(metadata(&requests[2])["window_number"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_compaction_fails_its_turn_and_leaves_the_history_as_it_was() {
    let s = scripted([
        Step::message("Noted: 9."),
        Step::http_error(400).body(serde_json::json!({"error": {"message": "too long to summarize"}})),
        Step::message("9."),
    ])
    .await;
    let run = Run::new(&s.base_url(), "", "");
    let (thread, events) = run.thread(Overrides::default(), None, Default::default());
    thread.run_turn(text("Remember 9.")).await.unwrap().expect("the first turn completes");
    let failed = compact(&thread).await;
    assert!(matches!(&failed, Err(TurnError::Api(e)) if e.to_string().contains("too long to summarize")), "{failed:?}");
    assert!(events.lock().unwrap().iter().any(|e| matches!(e, Event::TurnFailed { .. })));
    thread.run_turn(text("Which number?")).await.unwrap().expect("the next turn completes");
    let requests = bodies(&s).await;
    let (first, after) = (input(&requests[0]), input(&requests[2]));
    assert_eq!(&after[..first.len()], &first[..], "the history as it was");
    assert_eq!(after.len(), first.len() + 2, "{after:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fresh_context_goes_before_the_last_user_message_and_an_earlier_summary_is_not_kept() {
    // Upstream 0.169.0, seen with two turns before a compaction: the user's first message, the fresh context, the
    // user's last message, the summary.
    let s = scripted([
        Step::message("A."),
        Step::message("B."),
        Step::message("First summary."),
        Step::message("C."),
        Step::message("Second summary."),
        Step::message("D."),
    ])
    .await;
    let run = Run::new(&s.base_url(), "", "");
    let (thread, _events) = run.thread(Overrides::default(), None, Default::default());
    for (i, prompt) in ["one", "two"].iter().enumerate() {
        thread.run_turn(text(prompt)).await.unwrap().unwrap_or_else(|e| panic!("turn {i}: {e}"));
    }
    compact(&thread).await.expect("the first compaction completes");
    thread.run_turn(text("three")).await.unwrap().expect("the third turn completes");
    compact(&thread).await.expect("the second compaction completes");
    thread.run_turn(text("four")).await.unwrap().expect("the last turn completes");
    let requests = bodies(&s).await;
    let first = input(&requests[0]);
    let lines = |body: &Value| -> Vec<String> {
        input(body)
            .iter()
            .map(|item| {
                let same_as_first = first.iter().position(|f| f["content"] == item["content"]);
                match same_as_first {
                    Some(i) if i < 3 => format!("context {i}"),
                    _ => format!("{}: {}", item["role"].as_str().unwrap(), text_of(item)),
                }
            })
            .collect()
    };
    let after_first = lines(&requests[3]);
    assert_eq!(&after_first[..4], ["context 0", "user: one", "context 1", "context 2"], "{after_first:#?}");
    assert_eq!(after_first[4], "user: two");
    assert!(after_first[5].ends_with("First summary."));
    let after_second = lines(&requests[5]);
    assert_eq!(
        &after_second[..6],
        ["context 0", "user: one", "user: two", "context 1", "context 2", "user: three"],
        "{after_second:#?}"
    );
    assert!(after_second[6].ends_with("Second summary.") && after_second[7] == "user: four", "{after_second:#?}");
    assert_eq!(metadata(&requests[5])["window_number"], 2);
}

/// The pinned upstream binary, installed by the project's script, or `None` (said out loud) when it cannot be.
fn upstream() -> Option<std::path::PathBuf> {
    let script = repo().join("scripts/install-upstream.sh");
    let output = std::process::Command::new(script).output().expect("the install script runs");
    match output.status.code() {
        Some(0) => Some(String::from_utf8_lossy(&output.stdout).trim().into()),
        _ => {
            eprintln!("SKIPPED: upstream Codex is not installed: {}", String::from_utf8_lossy(&output.stderr));
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_resumes_a_thread_rcodex_compacted_from_its_summary() {
    let Some(codex) = upstream() else { return };
    let summary = "The user asked me to remember the number 42.";
    let s = scripted([Step::message("Noted: 42."), Step::message(summary), Step::message("42.")]).await;
    let run = Run::new(&s.base_url(), "", "");
    let (thread, _events) = run.thread(Overrides::default(), None, Default::default());
    thread.run_turn(text("Remember the number 42.")).await.unwrap().expect("the first turn completes");
    compact(&thread).await.expect("the compaction completes");
    thread.shutdown().await;

    let mut command = run.agent.command(&codex);
    command.args(["exec", "--skip-git-repo-check", "--json", "resume", "--last", "Which number?"]);
    let by_upstream = outcome(command).await;
    assert_eq!(by_upstream.code, Some(0), "{}", by_upstream.explain());
    let requests = bodies(&s).await;
    let sent = input(&requests[2]);
    let texts: Vec<&str> = sent.iter().map(text_of).collect();
    assert!(texts.iter().any(|t| t.ends_with(summary)), "{texts:#?}");
    assert!(texts.contains(&"Remember the number 42.") && !texts.contains(&"Noted: 42."), "{texts:#?}");
    assert_eq!(metadata(&requests[2])["window_number"], 1, "upstream goes on in the compaction's window");
}
