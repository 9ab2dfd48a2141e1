//! What rcodex does with damaged input it did not write itself: a tool call it cannot read in the model's response,
//! a session file damaged since it was saved. Each ends as upstream 0.169.0 was seen ending it.

use parity_e2e::{Run, outcome, scripted};
use parity_server::Step;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_function_call_without_call_id_is_dropped_and_not_run() {
    // Upstream 0.169.0 sent one request for this script and ran nothing (the scenario call-without-id records it).
    let call = json!({"type": "function_call", "id": "fc_x", "name": "exec_command", "arguments": "{\"cmd\":\"touch ran.txt\"}"});
    let usage = json!({"input_tokens": 1, "output_tokens": 1, "total_tokens": 2});
    let response = Step::raw([
        json!({"type": "response.created", "response": {"id": "resp_1"}}),
        json!({"type": "response.output_item.done", "item": call}),
        json!({"type": "response.completed", "response": {"id": "resp_1", "usage": usage}}),
    ]);
    let s = scripted([response, Step::message("never")]).await;
    let run = Run::new(&s.base_url(), "sandbox_mode = \"danger-full-access\"", "");
    let out = run.exec(&["go"]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    assert_eq!(s.model_requests().await.len(), 1, "no second request with call_id \"\": {}", out.explain());
    assert!(!run.workspace.join("ran.txt").exists(), "the command was not run");
    assert!(out.of_type("item.started").is_empty(), "{}", out.explain());
}

/// Rewrites line `n` (from 1) of a session file so that it is not JSON any more.
fn corrupt_line(path: &std::path::Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| if i + 1 == n { format!("{{CORRUPT {l}") } else { l.to_string() })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
    lines[n - 1].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn resume_last_passes_a_damaged_line_and_says_so() {
    let s = scripted([Step::message("Noted: 42."), Step::message("You said 42.")]).await;
    let run = Run::new(&s.base_url(), "", "");
    let first = run.exec(&["Remember 42."]).await;
    assert_eq!(first.code, Some(0), "{}", first.explain());
    let thread = first.of_type("thread.started")[0]["thread_id"].clone();
    let file = run.session_files().remove(0);
    let text = std::fs::read_to_string(&file).unwrap();
    let line = 1 + text
        .lines()
        .position(|l| l.contains(r#""type":"response_item""#) && l.contains("Remember 42."))
        .expect("the prompt is saved");
    corrupt_line(&file, line);

    // Upstream 0.169.0 resumed the same thread, its history without the damaged line, and said nothing.
    let resumed =
        outcome(run.rcodex(&["exec", "resume", "--last", "--skip-git-repo-check", "--json", "Which number?"])).await;
    assert_eq!(resumed.code, Some(0), "{}", resumed.explain());
    assert_eq!(resumed.of_type("thread.started")[0]["thread_id"], thread, "the same thread");
    let input = s.model_requests().await[1].request.input().to_vec();
    let texts: Vec<String> = input.iter().map(|i| i["content"][0]["text"].as_str().unwrap_or("").to_string()).collect();
    assert!(!texts.iter().any(|t| t == "Remember 42."), "the damaged line is left out: {texts:?}");
    assert!(texts.iter().any(|t| t == "Noted: 42."), "the rest is there: {texts:?}");
    let expected = format!("left out of the resumed session: {}:{line}: ", file.display());
    assert!(resumed.stderr.contains(&expected), "stderr names the file and the line: {}", resumed.explain());
    assert!(!resumed.stderr.contains("no saved session"), "{}", resumed.explain());
}

#[tokio::test(flavor = "multi_thread")]
async fn resume_last_passes_a_session_without_a_readable_meta_line_and_starts_anew() {
    let s = scripted([Step::message("Noted."), Step::message("Fresh start.")]).await;
    let run = Run::new(&s.base_url(), "", "");
    let first = run.exec(&["Remember 42."]).await;
    assert_eq!(first.code, Some(0), "{}", first.explain());
    let thread = first.of_type("thread.started")[0]["thread_id"].clone();
    let file = run.session_files().remove(0);
    corrupt_line(&file, 1);

    // Upstream 0.169.0 started a new thread (its first request is a new session's) and said nothing.
    let resumed =
        outcome(run.rcodex(&["exec", "resume", "--last", "--skip-git-repo-check", "--json", "Which number?"])).await;
    assert_eq!(resumed.code, Some(0), "{}", resumed.explain());
    assert_ne!(resumed.of_type("thread.started")[0]["thread_id"], thread, "a new thread");
    assert_eq!(run.session_files().len(), 2, "the damaged file is left as it is, beside the new one");
    let expected = format!("skipped session file {}:1: no readable session_meta line", file.display());
    assert!(resumed.stderr.contains(&expected), "stderr names the file and why: {}", resumed.explain());
    assert!(resumed.stderr.contains("starting a new session"), "{}", resumed.explain());
}

/// The pinned upstream binary, installed by the project's script, or `None` (said out loud) when it cannot be.
fn upstream() -> Option<std::path::PathBuf> {
    let script = parity_e2e::repo().join("scripts/install-upstream.sh");
    let output = std::process::Command::new(script).output().expect("the install script runs");
    match output.status.code() {
        Some(0) => Some(String::from_utf8_lossy(&output.stdout).trim().into()),
        _ => {
            eprintln!("SKIPPED: upstream Codex is not installed: {}", String::from_utf8_lossy(&output.stderr));
            None
        }
    }
}

/// The texts of a request's input messages.
fn texts(input: &[serde_json::Value]) -> Vec<String> {
    input.iter().filter_map(|i| i["content"][0]["text"].as_str()).map(str::to_string).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_file_in_upstreams_layout_is_resumed_by_upstream_and_then_by_rcodex_again() {
    let Some(codex) = upstream() else { return };
    let s = scripted([Step::message("Noted: 42."), Step::message("You said 42."), Step::message("Still 42.")]).await;
    let run = Run::new(&s.base_url(), "", "");
    let first = run.exec(&["Remember 42."]).await;
    assert_eq!(first.code, Some(0), "{}", first.explain());

    // Upstream 0.169.0 continues rcodex's file with its history...
    let mut command = run.agent.command(&codex);
    command.args(["exec", "--skip-git-repo-check", "--json", "resume", "--last", "Which number?"]);
    let by_upstream = outcome(command).await;
    assert_eq!(by_upstream.code, Some(0), "{}", by_upstream.explain());
    assert_eq!(by_upstream.agent_messages(), ["You said 42."]);
    let second = texts(s.model_requests().await[1].request.input());
    assert!(second.contains(&"Remember 42.".into()) && second.contains(&"Noted: 42.".into()), "{second:#?}");

    // ...and rcodex continues what upstream added, in one file whose ordinals run on.
    let by_rcodex =
        outcome(run.rcodex(&["exec", "resume", "--last", "--skip-git-repo-check", "--json", "And now?"])).await;
    assert_eq!(by_rcodex.code, Some(0), "{}", by_rcodex.explain());
    let third = texts(s.model_requests().await[2].request.input());
    for said in ["Remember 42.", "Noted: 42.", "Which number?", "You said 42.", "And now?"] {
        assert!(third.contains(&said.to_string()), "{said}: {third:#?}");
    }
    let files = run.session_files();
    assert_eq!(files.len(), 1, "{files:?}");
    let ordinals: Vec<u64> = std::fs::read_to_string(&files[0])
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["ordinal"].as_u64().unwrap())
        .collect();
    assert_eq!(ordinals, (0..ordinals.len() as u64).collect::<Vec<_>>());
}
