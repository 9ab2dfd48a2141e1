//! rcodex exec as a user runs it, against the scripted server: configuration reaching the request, and every
//! failure path, each ending the way upstream's does.

use std::time::{Duration, Instant};

use parity_e2e::{Outcome, Run, outcome, scripted};
use parity_server::{Hold, Step, Until};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn a_plain_turn_prints_the_events_and_saves_the_session() {
    let s = scripted([Step::message("Hello there.")]).await;
    let run = Run::new(&s.base_url(), "", "");
    let out = run.exec(&["say hi"]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    let types: Vec<&str> = out.events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["thread.started", "turn.started", "item.completed", "turn.completed"]);
    assert_eq!(out.agent_messages(), ["Hello there."]);
    assert_eq!(out.of_type("turn.completed")[0]["usage"]["input_tokens"], 1200);
    let request = &s.model_requests().await[0].request;
    assert_eq!(
        request.header("authorization"),
        Some("Bearer <redacted:".to_string() + &parity_capture::redact::fingerprint("sk-e2e-dummy") + ">").as_deref()
    );
    assert_eq!(request.header("originator"), Some("codex_exec"));
    assert_eq!(request.input().last().unwrap()["content"][0]["text"], "say hi");
    let sessions = run.session_files();
    assert_eq!(sessions.len(), 1, "one rollout file");
    let thread = out.of_type("thread.started")[0]["thread_id"].as_str().unwrap().to_string();
    assert!(sessions[0].to_string_lossy().ends_with(&format!("{thread}.jsonl")));
}

#[tokio::test(flavor = "multi_thread")]
async fn configuration_keys_reach_the_request() {
    let s = scripted([Step::message("ok")]).await;
    let run = Run::new(
        &s.base_url(),
        "model_reasoning_effort = \"high\"\nmodel_reasoning_summary = \"detailed\"\nmodel_verbosity = \"high\"\nsandbox_mode = \"danger-full-access\"",
        "query_params = { \"api-version\" = \"2026-01\" }\nhttp_headers = { \"x-team\" = \"parity\" }\nenv_http_headers = { \"x-from-env\" = \"PATH\" }",
    );
    let out = run.exec(&["-c", "model_verbosity=\"medium\"", "go"]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    let c = &s.model_requests().await[0];
    assert_eq!(c.request.body["reasoning"], json!({"effort": "high", "summary": "detailed"}));
    assert_eq!(c.request.body["text"], json!({"verbosity": "medium"}), "-c wins over the file");
    assert_eq!(c.request.query.as_deref(), Some("api-version=2026-01"));
    assert_eq!(c.request.header("x-team"), Some("parity"));
    assert_eq!(c.request.header("x-from-env"), Some("/usr/bin:/bin"));
    let metadata: serde_json::Value = serde_json::from_str(c.request.header("x-codex-turn-metadata").unwrap()).unwrap();
    assert_eq!(
        (metadata["sandbox_mode"].as_str(), metadata["reasoning_effort"].as_str()),
        (Some("danger-full-access"), Some("high"))
    );
    let out = run.exec(&["-m", "gpt-5.6-sol", "-s", "read-only", "again"]).await;
    assert_eq!(out.code, Some(0), "another process is another thread, which runs the script afresh: {}", out.explain());
    let second = &s.model_requests().await[1];
    assert_eq!(second.request.body["model"], "gpt-5.6-sol");
    assert_eq!(second.request.header("x-openai-internal-codex-responses-lite"), Some("true"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_5xx_is_sent_again_quietly_and_a_cut_stream_with_a_notice() {
    let s = scripted([
        Step::http_error(500),
        Step::message("Hel").disconnect_before("response.completed"),
        Step::message("Hello!"),
    ])
    .await;
    let run = Run::new(&s.base_url(), "", "");
    let out = run.exec(&["say hello"]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    let errors = out.errors();
    assert_eq!(errors.len(), 1, "the 500 is retried without a word: {errors:?}");
    assert!(errors[0].starts_with("Reconnecting... 1/5 (stream disconnected before completion"), "{errors:?}");
    assert_eq!(out.agent_messages(), ["Hel", "Hello!"]);
    let requests = s.model_requests().await;
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].request.body, requests[1].request.body, "the same request again after the 500");
    let last = requests[2].request.input().last().unwrap();
    assert_eq!(last["content"][0]["text"], "Hel", "the retry carries what had arrived whole");
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_run_out_and_the_turn_fails_with_exit_status_1() {
    let s =
        scripted([Step::http_error(503), Step::http_error(503), Step::http_error(503), Step::http_error(503)]).await;
    let run = Run::new(&s.base_url(), "", "request_max_retries = 1\nstream_max_retries = 1");
    let out = run.exec(&["go"]).await;
    assert_eq!(out.code, Some(1), "{}", out.explain());
    assert_eq!(s.model_requests().await.len(), 4, "two attempts (one request retry), twice (one stream retry)");
    let failed = out.of_type("turn.failed");
    assert_eq!(failed.len(), 1);
    let message = failed[0]["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("unexpected status 503 Service Unavailable: "),
        "the last answer is reported: {message}"
    );
    assert!(out.errors().iter().any(|e| e.starts_with("Reconnecting... 1/1")), "{:?}", out.errors());
    assert!(out.of_type("turn.completed").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn fatal_answers_end_the_turn_at_once() {
    // Upstream words a context the model refuses itself: as its recording of that failure says.
    let recorded = std::fs::read_to_string(
        parity_e2e::repo().join("captures/codex-0.169.0/context-length-exceeded/turn-1/stdout.txt"),
    )
    .unwrap();
    let upstream_words = recorded
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|event| event["type"] == "turn.failed")
        .and_then(|event| event["error"]["message"].as_str().map(str::to_string))
        .expect("the recording's turn.failed");
    for (step, expected) in [
        (Step::http_error(400).body(json!({"error": {"message": "bad request body"}})), "bad request body".to_string()),
        (Step::failed("context_length_exceeded", "Your input exceeds the context window"), upstream_words),
    ] {
        let s = scripted([step, Step::message("never")]).await;
        let run = Run::new(&s.base_url(), "", "");
        let out = run.exec(&["go"]).await;
        assert_eq!(out.code, Some(1), "{}", out.explain());
        assert_eq!(s.model_requests().await.len(), 1, "not retried");
        let message = out.of_type("turn.failed")[0]["error"]["message"].as_str().unwrap().to_string();
        assert!(message.contains(&expected), "{message}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retryable_response_failed_and_a_stalled_stream_are_retried() {
    let stalled = Step::message("slow")
        .hold(Hold::named("stall").before("response.completed").until(Until::Release).timeout_ms(5000));
    let s = scripted([Step::failed("server_error", "boom"), stalled, Step::message("done")]).await;
    let run = Run::new(&s.base_url(), "", "stream_idle_timeout_ms = 300");
    let started = Instant::now();
    let out = run.exec(&["go"]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    let errors = out.errors();
    assert!(errors[0].contains("Reconnecting... 1/5 (boom)"), "{errors:?}");
    assert!(errors[1].contains("idle timeout waiting for SSE"), "{errors:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "the idle timeout, not the hold, ended the wait");
    assert_eq!(out.agent_messages().last().map(String::as_str), Some("done"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_provider_and_a_missing_key_are_reported() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let run = Run::new(&format!("http://{closed}/v1"), "", "request_max_retries = 0\nstream_max_retries = 0");
    let out = run.exec(&["go"]).await;
    assert_eq!(out.code, Some(1), "{}", out.explain());
    assert!(out.of_type("turn.failed")[0]["error"]["message"].as_str().unwrap().contains("error sending request"));

    let s = scripted([Step::message("never")]).await;
    let run = Run::new(&s.base_url(), "", "");
    let mut command = run.rcodex(&["exec", "--skip-git-repo-check", "--json", "go"]);
    command.env_remove(parity_e2e::KEY_VAR);
    let out = outcome(command).await;
    assert_eq!(out.code, Some(1));
    assert_eq!(
        out.of_type("turn.failed")[0]["error"]["message"],
        format!("Missing environment variable: `{}`.", parity_e2e::KEY_VAR)
    );
    assert!(s.model_requests().await.is_empty(), "nothing is sent without the key");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_resumes_with_its_history_and_the_same_instructions_id() {
    let s =
        scripted([Step::message("Noted: 42."), Step::message("It was 42.").expect_input_contains("Remember 42")]).await;
    let run = Run::new(&s.base_url(), "", "");
    assert_eq!(run.exec(&["Remember 42"]).await.code, Some(0));
    let resumed =
        outcome(run.rcodex(&["exec", "resume", "--last", "--skip-git-repo-check", "--json", "Which number?"])).await;
    assert_eq!(resumed.code, Some(0), "{}", resumed.explain());
    let requests = s.model_requests().await;
    let (first, second) = (&requests[0].request, &requests[1].request);
    assert_eq!(first.header("thread-id"), second.header("thread-id"), "the same thread");
    assert_eq!(second.input()[..first.input().len()], first.input()[..], "the history comes back as it was");
    let metadata: serde_json::Value = serde_json::from_str(second.header("x-codex-turn-metadata").unwrap()).unwrap();
    assert_eq!(metadata["history_initialization"], "cold_resume");
    assert_eq!(run.session_files().len(), 1, "the resumed session appends to its own file");
}

#[tokio::test(flavor = "multi_thread")]
async fn output_files_schemas_images_and_ephemeral_sessions() {
    let s = scripted([Step::message("{\"answer\": 42}")]).await;
    let run = Run::new(&s.base_url(), "", "");
    let schema = run.dir().join("schema.json");
    std::fs::write(&schema, r#"{"type": "object", "properties": {"answer": {"type": "number"}}}"#).unwrap();
    let image = parity_e2e::repo().join("fixtures/scenarios/files/checkerboard.png");
    let last = run.dir().join("last.txt");
    let out = run
        .exec(&[
            "--ephemeral",
            "--output-schema",
            schema.to_str().unwrap(),
            "-o",
            last.to_str().unwrap(),
            "-i",
            image.to_str().unwrap(),
            "--",
            "answer",
        ])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    assert_eq!(std::fs::read_to_string(&last).unwrap(), "{\"answer\": 42}");
    assert!(run.session_files().is_empty(), "--ephemeral saves nothing");
    let body = &s.model_requests().await[0].request.body;
    assert_eq!(body["text"]["format"]["type"], "json_schema");
    assert_eq!(body["text"]["format"]["schema"]["properties"]["answer"]["type"], "number");
    let prompt = body["input"].as_array().unwrap().last().unwrap();
    assert!(prompt["content"][1]["image_url"].as_str().unwrap().starts_with("data:image/png;base64,"));

    let bad = run.exec(&["--output-schema", "/nonexistent.json", "x"]).await;
    assert_eq!(bad.code, Some(1));
    assert!(bad.stderr.contains("--output-schema /nonexistent.json"), "{}", bad.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn outside_a_git_repository_rcodex_refuses_unless_told_and_bad_config_is_named() {
    let s = scripted([Step::message("ok")]).await;
    let run = Run::new(&s.base_url(), "", "");
    let out = outcome(run.rcodex(&["exec", "--json", "go"])).await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("Not inside a trusted directory and --skip-git-repo-check was not specified."),
        "{}",
        out.stderr
    );

    std::fs::write(run.home.join("config.toml"), "sandbox_mode = \"yolo\"\n").unwrap();
    let out = run.exec(&["go"]).await;
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("config.toml") && out.stderr.contains("sandbox_mode"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_interrupts_the_turn_and_leaves_a_consistent_session_file() {
    let s = scripted([Step::message("never finishes").hold(Hold::named("forever").until(Until::Release))]).await;
    let run = Run::new(&s.base_url(), "", "");
    let child = run
        .rcodex(&["exec", "--skip-git-repo-check", "--json", "go"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    s.wait_for_hold("forever", Duration::from_secs(10)).await.expect("the turn is under way");
    let pid = child.id().to_string();
    std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    assert_eq!(output.status.code(), Some(130));
    let out = Outcome::of(output);
    assert!(out.of_type("turn.completed").is_empty() && out.of_type("turn.failed").is_empty(), "no terminal event");
    let file = &run.session_files()[0];
    for line in std::fs::read_to_string(file).unwrap().lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    s.release_all();
}
