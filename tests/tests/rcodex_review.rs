//! `rcodex review` and `rcodex exec review` as a user runs them, in a real git repository against the scripted
//! server: the reviewer's request names its parent, the findings come back as one message, and bad targets are
//! refused before any request.

use std::path::Path;

use parity_e2e::{Run, outcome, scripted};
use parity_server::Step;
use serde_json::Value;

/// `git` in `dir` with a fixed identity; its trimmed output.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The run's workspace as a repository: `main` with `a.rs`, then a `feature` branch that changes it. Returns the
/// commit `main` is at.
fn repository(run: &Run) -> String {
    let w = &run.workspace;
    std::fs::write(w.join("a.rs"), "fn a() -> i32 { 1 }\n").unwrap();
    git(w, &["init", "-q"]);
    git(w, &["add", "-A"]);
    git(w, &["commit", "-qm", "one"]);
    let base = git(w, &["rev-parse", "HEAD"]);
    git(w, &["checkout", "-qb", "feature"]);
    std::fs::write(w.join("a.rs"), "fn a() -> i32 { 2 }\n").unwrap();
    git(w, &["commit", "-qam", "two"]);
    base
}

const ANSWER: &str = r#"{"findings":[{"title":"[P2] a returns 2","body":"It returned 1 before.","confidence_score":0.5,"priority":2,"code_location":{"absolute_file_path":"a.rs","line_range":{"start":1,"end":1}}}],"overall_correctness":"patch is incorrect","overall_explanation":"The branch changes what a returns.","overall_confidence_score":0.5}"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_review_against_a_branch_runs_as_a_sub_agent_and_ends_with_its_findings() {
    let s = scripted([Step::message(ANSWER)]).await;
    let run = Run::new(&s.base_url(), "", "");
    let base = repository(&run);
    let out = run.exec(&["review", "--base", "main"]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    let types: Vec<&str> = out.events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["thread.started", "turn.started", "item.completed", "turn.completed"]);
    let message = &out.agent_messages()[0];
    assert!(message.starts_with("The branch changes what a returns.\n\n"), "{message}");
    assert!(message.ends_with("- [P2] a returns 2 \u{2014} a.rs:1-1\n  It returned 1 before."), "{message}");
    assert_eq!(out.of_type("turn.completed")[0]["usage"]["input_tokens"], 0, "the reviewer's usage is its own");

    let requests = s.model_requests().await;
    assert_eq!(requests.len(), 1);
    let request = &requests[0].request;
    let parent = out.of_type("thread.started")[0]["thread_id"].as_str().unwrap();
    assert_eq!(request.header("x-openai-subagent"), Some("review"));
    assert_eq!(request.header("x-codex-parent-thread-id"), Some(parent));
    assert_eq!(request.header("session-id"), Some(parent));
    assert_ne!(request.header("thread-id"), Some(parent), "the reviewer has a thread of its own");
    assert_eq!(request.body["prompt_cache_key"], parent);
    let metadata: Value = serde_json::from_str(request.header("x-codex-turn-metadata").unwrap()).unwrap();
    assert_eq!(
        (metadata["subagent_kind"].as_str(), metadata["thread_source"].as_str()),
        (Some("review"), Some("subagent"))
    );
    assert!(metadata.get("turn_trigger").is_none());
    let asked = request.input().last().unwrap()["content"][0]["text"].as_str().unwrap().to_string();
    assert!(asked.contains(&base) && asked.contains("'main'"), "the merge base and the branch: {asked}");
    let instructions = request.input()[0]["content"][0]["text"].as_str().unwrap();
    assert!(instructions.contains("overall_correctness"), "the review's rubric, not the model's instructions");
    let tools: Vec<&str> = request.body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str().or(t["type"].as_str()))
        .collect();
    assert!(tools.contains(&"exec_command") && !tools.contains(&"web_search"), "{tools:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rcodex_review_prints_the_findings_and_bad_targets_ask_nothing() {
    let s = scripted([Step::message(ANSWER)]).await;
    let run = Run::new(&s.base_url(), "", "");
    let sha = {
        repository(&run);
        git(&run.workspace, &["rev-parse", "HEAD"])
    };
    let out = outcome(run.rcodex(&["review", "--commit", &sha, "--title", "two"])).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    assert!(out.stdout.contains("- [P2] a returns 2 \u{2014} a.rs:1-1"), "the final message on stdout: {}", out.stdout);
    let asked = s.model_requests().await[0].request.input().last().unwrap()["content"][0]["text"].clone();
    assert!(asked.as_str().is_some_and(|a| a.contains(&sha) && a.contains("\"two\"")), "{asked}");

    let missing = run.exec(&["review", "--base", "nope"]).await;
    assert_eq!(missing.code, Some(1), "{}", missing.explain());
    assert!(missing.stderr.contains("--base nope: no such branch"), "{}", missing.stderr);
    let both = outcome(run.rcodex(&["exec", "review", "--uncommitted", "and instructions"])).await;
    assert_eq!(both.code, Some(2), "a target and instructions exclude each other: {}", both.explain());
    assert_eq!(s.model_requests().await.len(), 1, "no request for a refused target");
}
