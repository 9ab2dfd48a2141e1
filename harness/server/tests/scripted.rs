//! Scripted mode, through a real HTTP client.

mod common;

use std::time::{Duration, Instant};

use common::{codex_body, post, post_raw};
use parity_capture::{Outcome, Recording};
use parity_server::{Hold, ParityServer, Script, Step, Until};
use serde_json::json;

async fn start(script: impl Into<Script>) -> ParityServer {
    ParityServer::scripted(script).start().await.expect("server starts")
}

#[tokio::test]
async fn a_shorthand_step_streams_a_realistic_response_and_the_request_is_captured() {
    let server = start([Step::reasoning("thinking")
        .then_message("Hello there")
        .then_function_call("exec_command", json!({"cmd": "ls"}))
        .call_id("call_1")])
    .await;
    let reply =
        post(&server.base_url(), &codex_body("say hi"), &[("thread-id", "t-1"), ("originator", "codex_exec")]).await;

    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], "text/event-stream");
    let types = reply.event_types();
    assert_eq!(types.first().map(String::as_str), Some("response.created"));
    assert_eq!(types.last().map(String::as_str), Some("response.completed"));
    assert_eq!(types.iter().filter(|t| *t == "response.output_item.done").count(), 3);
    for (_, frame) in &reply.events {
        assert_eq!(frame.event.as_deref(), frame.data_value()["type"].as_str(), "event: names the type");
    }
    let output = &reply.last_data()["response"]["output"];
    assert_eq!(output[0]["type"], "reasoning");
    assert_eq!(output[1]["content"][0]["text"], "Hello there");
    assert_eq!(output[2]["call_id"], "call_1");
    assert_eq!(output[2]["arguments"], "{\"cmd\":\"ls\"}");

    let captures = server.captures().await;
    assert_eq!(captures.len(), 1);
    let c = &captures[0];
    assert_eq!((c.session.index, c.session.key.as_str(), c.seq), (1, "t-1", 1));
    assert_eq!(c.request.header("originator"), Some("codex_exec"));
    assert_eq!(c.request.body, codex_body("say hi"));
    assert_eq!(c.response.outcome, Outcome::Completed);
    assert_eq!(c.response.events.len(), reply.events.len());
    assert_eq!(c.response.events[0].data, reply.events[0].1.data_value(), "the capture holds what was sent");
    assert!(c.response.events.windows(2).all(|w| w[0].t_ms <= w[1].t_ms));
    assert_eq!(c.script.as_ref().unwrap().step, Some(1));
}

#[tokio::test]
async fn the_raw_form_is_sent_as_is() {
    let events = vec![
        json!({"type": "response.created", "response": {"id": "r1"}}),
        json!({"type": "response.output_item.done", "item": {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "raw"}]}}),
        json!({"type": "response.completed", "response": {"id": "r1", "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}}}),
    ];
    let script =
        Script::parse(&serde_json::to_string(&json!([events])).unwrap(), parity_server::script::Syntax::Json, "t")
            .unwrap();
    let server = start(script).await;
    let reply = post(&server.base_url(), &codex_body("x"), &[]).await;
    let got: Vec<_> = reply.events.iter().map(|(_, f)| f.data_value()).collect();
    assert_eq!(got, events);
}

#[tokio::test]
async fn a_delayed_stream_arrives_event_by_event() {
    let server = start([Step::message("one two three four").delay_ms(120)]).await;
    let reply = post(&server.base_url(), &codex_body("x"), &[]).await;
    let first = reply.events.first().unwrap().0;
    let last = reply.events.last().unwrap().0;
    let gaps = reply.events.len() as u32 - 1;
    assert!(last - first >= Duration::from_millis(120) * (gaps - 1), "{first:?} .. {last:?}");
    assert!(first < Duration::from_millis(100), "the first event does not wait for the last: {first:?}");
}

#[tokio::test]
async fn sessions_run_the_script_independently_or_their_own() {
    let shared = [Step::message("first"), Step::message("second")];
    let script = Script::from(shared).session([Step::message("own script")]);
    let server = start(script).await;
    let text =
        |r: &common::Reply| r.last_data()["response"]["output"][0]["content"][0]["text"].as_str().unwrap().to_string();
    let a1 = post(&server.base_url(), &codex_body("x"), &[("session-id", "A")]).await;
    let b1 = post(&server.base_url(), &codex_body("x"), &[("session-id", "B")]).await;
    let a2 = post(&server.base_url(), &codex_body("x"), &[("session-id", "A")]).await;
    let b2 = post(&server.base_url(), &codex_body("x"), &[("session-id", "B")]).await;
    assert_eq!(text(&a1), "own script", "the first session runs sessions[0]");
    assert_eq!(a2.status, 400, "and its script has one step");
    assert_eq!((text(&b1), text(&b2)), ("first".into(), "second".into()), "later sessions run the shared steps");
}

#[tokio::test]
async fn http_failures_carry_status_body_and_retry_after() {
    let server = start([
        Step::http_error(503).retry_after(3),
        Step::http_error(429).body(json!({"error": {"message": "slow"}})),
        Step::message("ok"),
    ])
    .await;
    let r1 = post(&server.base_url(), &codex_body("x"), &[]).await;
    assert_eq!(r1.status, 503);
    assert_eq!(r1.headers["retry-after"], "3");
    assert_eq!(r1.json()["error"]["type"], "server_error");
    let r2 = post(&server.base_url(), &codex_body("x"), &[]).await;
    assert_eq!((r2.status, r2.error_message()), (429, "slow".to_string()));
    let r3 = post(&server.base_url(), &codex_body("x"), &[]).await;
    assert_eq!(r3.status, 200);
    let captures = server.captures().await;
    assert_eq!(captures[0].response.status, 503);
    assert!(captures[0].response.headers.get("retry-after").is_some());
}

#[tokio::test]
async fn response_failed_ends_the_stream() {
    let server = start([Step::message("partial").fail_with_response_failed("server_is_overloaded", "try later")]).await;
    let reply = post(&server.base_url(), &codex_body("x"), &[]).await;
    assert_eq!(reply.status, 200);
    let last = reply.last_data();
    assert_eq!(last["type"], "response.failed");
    assert_eq!(last["response"]["error"]["code"], "server_is_overloaded");
    assert!(!reply.event_types().contains(&"response.completed".to_string()));
}

#[tokio::test]
async fn a_dropped_connection_cuts_the_stream_before_completion() {
    let server = start([Step::message("cut me").disconnect_before("response.completed")]).await;
    let reply = post(&server.base_url(), &codex_body("x"), &[]).await;
    assert!(reply.error.is_some(), "the client sees the body break off");
    assert!(reply.event_types().contains(&"response.output_item.done".to_string()));
    assert!(!reply.event_types().contains(&"response.completed".to_string()));
    let capture = &server.captures().await[0];
    assert_eq!(capture.response.outcome, Outcome::Dropped);
    assert!(capture.response.error.as_deref().unwrap().contains("cut"));
}

#[tokio::test]
async fn a_hold_stops_the_stream_until_released_through_the_control_api() {
    let server = start([Step::message("held").hold(Hold::named("steer").before("response.completed"))]).await;
    let base = server.base_url();
    let request = tokio::spawn(async move { post(&base, &codex_body("x"), &[("thread-id", "t")]).await });
    let hold = server.wait_for_hold("steer", Duration::from_secs(5)).await.expect("the stream reaches the hold");
    assert_eq!((hold.session, hold.before.as_str()), (1, "response.completed"));
    let listed = common::get_json(&format!("{}/_parity/holds", server.url())).await;
    assert_eq!(listed["holds"][0]["name"], "steer");
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!request.is_finished(), "still held");

    let released = common::client().post(format!("{}/_parity/holds/steer/release", server.url())).send().await.unwrap();
    assert_eq!(released.status(), 200);
    let reply = request.await.unwrap();
    assert_eq!(reply.event_types().last().map(String::as_str), Some("response.completed"));
    let before = reply.events.iter().rev().nth(1).unwrap().0;
    let after = reply.events.last().unwrap().0;
    assert!(after - before >= Duration::from_millis(150), "the last event came after the release");
    let holds = &server.captures().await[0].script.clone().unwrap().holds;
    assert_eq!(holds[0].released_by.as_deref(), Some("release"));

    let missing = common::client().post(format!("{}/_parity/holds/nope/release", server.url())).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn a_hold_is_released_by_the_next_request_of_the_session_or_by_its_timeout() {
    let server = start([
        Step::message("a").hold(Hold::default().until(Until::NextRequest)),
        Step::message("b"),
        Step::message("c").hold(Hold::named("slow").timeout_ms(100)),
    ])
    .await;
    let base = server.base_url();
    let first = tokio::spawn(async move { post(&base, &codex_body("x"), &[("thread-id", "t")]).await });
    server.wait_for_hold("step-1", Duration::from_secs(5)).await.expect("held");
    assert_eq!(server.release_all(), 0, "a next-request hold ignores releases");
    let second = post(&server.base_url(), &codex_body("y"), &[("thread-id", "t")]).await;
    assert_eq!(second.status, 200);
    assert_eq!(first.await.unwrap().event_types().last().map(String::as_str), Some("response.completed"));

    let started = Instant::now();
    let third = post(&server.base_url(), &codex_body("z"), &[("thread-id", "t")]).await;
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(third.event_types().last().map(String::as_str), Some("response.completed"));
    let captures = server.captures().await;
    let released: Vec<_> =
        captures.iter().filter_map(|c| c.script.as_ref()?.holds.first()?.released_by.clone()).collect();
    assert_eq!(released, ["next_request", "timeout"]);
}

#[tokio::test]
async fn broken_expectations_are_answered_400_naming_them_and_recorded() {
    let step = Step::message("never sent")
        .expect_last_input_contains("fix the bug")
        .expect_function_call_output("call_9")
        .expect_header("originator", "codex_exec");
    let server = start([step]).await;
    let reply = post(&server.base_url(), &codex_body("write a poem"), &[("originator", "codex_tui")]).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["code"], "parity_expectation_failed");
    let message = reply.error_message();
    for part in [
        "last_input_contains \"fix the bug\"",
        "\"write a poem\"",
        "function_call_output \"call_9\"",
        "headers.originator \"codex_exec\"",
        "\"codex_tui\"",
    ] {
        assert!(message.contains(part), "{part} in: {message}");
    }
    let capture = &server.captures().await[0];
    let expectations = &capture.script.as_ref().unwrap().expectations;
    assert_eq!(expectations.len(), 3);
    assert!(expectations.iter().all(|e| !e.ok && e.found.is_some()));
}

#[tokio::test]
async fn a_request_past_the_end_of_the_script_gets_a_clear_error_at_once() {
    let server = start([Step::message("only")]).await;
    post(&server.base_url(), &codex_body("x"), &[]).await;
    let started = Instant::now();
    let reply = tokio::time::timeout(Duration::from_secs(5), post(&server.base_url(), &codex_body("x"), &[]))
        .await
        .expect("no hang");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["code"], "parity_script_exhausted");
    assert!(reply.error_message().contains("model request 2, but its script has 1 step"), "{}", reply.error_message());
}

#[tokio::test]
async fn bodies_that_are_not_json_or_too_large_are_captured_raw_and_refused() {
    let server = ParityServer::scripted([Step::message("x")]).max_body_bytes(1000).start().await.unwrap();
    let not_json = post_raw(&server.base_url(), b"{\"model\": oops".to_vec(), &[]).await;
    assert_eq!(not_json.status, 400);
    assert!(not_json.error_message().contains("is not JSON"), "{}", not_json.error_message());
    let big = post_raw(&server.base_url(), vec![b'x'; 5000], &[]).await;
    assert_eq!(big.status, 400);
    assert!(big.error_message().contains("larger than the limit of 1000 bytes"), "{}", big.error_message());
    let binary = post_raw(&server.base_url(), vec![0xff, 0xfe, 0x00], &[]).await;
    assert_eq!(binary.status, 400);

    let captures = server.captures().await;
    let raw: Vec<_> = captures.iter().map(|c| c.request.raw_body.clone().expect("kept raw")).collect();
    assert_eq!(raw[0].text.as_deref(), Some("{\"model\": oops"));
    assert!(raw[1].truncated && raw[1].size >= 1000);
    assert_eq!(raw[2].base64.as_deref(), Some("//4A"));
    assert!(captures.iter().all(|c| c.script.is_none()), "no step was used up");
}

#[tokio::test]
async fn models_and_the_control_api_answer() {
    let server = start(Script::from([Step::message("x")]).models(["m-1", "m-2"])).await;
    let models = common::get_json(&format!("{}/models", server.base_url())).await;
    assert_eq!(models["data"][1]["id"], "m-2");
    assert_eq!(models["object"], "list");
    post(&server.base_url(), &codex_body("x"), &[]).await;
    server.settle(Duration::from_secs(5)).await;
    let health = common::get_json(&format!("{}/_parity/health", server.url())).await;
    assert_eq!(
        (health["status"].as_str(), health["mode"].as_str(), health["requests"].as_u64()),
        (Some("ok"), Some("scripted"), Some(2))
    );
    let list = common::get_json(&format!("{}/_parity/captures", server.url())).await;
    let kinds: Vec<_> = list["captures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{} {}", c["method"].as_str().unwrap(), c["status"]))
        .collect();
    assert_eq!(kinds, ["GET 200", "POST 200"]);
    let other = common::read(common::client().get(format!("{}/v1/files", server.url()))).await;
    assert_eq!(other.status, 404);
}

#[tokio::test]
async fn captures_on_disk_are_complete_redacted_and_pending_while_held() {
    let dir = tempfile::tempdir().unwrap();
    let server = ParityServer::scripted([Step::message("held").hold_before("response.completed")])
        .captures_dir(dir.path())
        .pending_after(Duration::from_secs(60))
        .start()
        .await
        .unwrap();
    let base = server.base_url();
    let secret = "sk-live-0123456789abcdefghij";
    let request = tokio::spawn(async move {
        let auth = format!("Bearer {secret}");
        post(
            &base,
            &codex_body("x"),
            &[("authorization", auth.as_str()), ("x-api-key", "k-123"), ("cookie", "sid=abc")],
        )
        .await
    });
    server.wait_for_hold("step-1", Duration::from_secs(5)).await.unwrap();
    // The hold writes the exchange at once, although the usual early write would wait a minute.
    let file = dir.path().join("session-01/0001-post-responses.json");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !file.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pending = parity_capture::store::load_capture(&file).expect("a complete file while held");
    assert_eq!(pending.response.outcome, Outcome::Pending);
    assert!(!pending.response.events.is_empty(), "the events sent so far are there");

    server.release_all();
    request.await.unwrap();
    server.settle(Duration::from_secs(5)).await;
    let text = std::fs::read_to_string(&file).unwrap();
    for leaked in [secret, "k-123", "abc"] {
        assert!(!text.contains(leaked), "{leaked} reached the disk");
    }
    assert!(text.contains("\"Bearer <redacted:"));
    let recording = Recording::load(dir.path()).unwrap();
    assert_eq!(recording.exchanges().next().unwrap().capture.response.outcome, Outcome::Completed);
    let stray: Vec<_> = walk_names(dir.path()).into_iter().filter(|n| n.contains("tmp")).collect();
    assert!(stray.is_empty(), "{stray:?}");
}

fn walk_names(dir: &std::path::Path) -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().is_dir() {
            names.extend(walk_names(&entry.path()));
        } else {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names
}

#[tokio::test]
async fn compressed_bodies_are_decoded_for_the_capture_and_the_script() {
    let server = start([Step::message("ok").expect_last_input_contains("zipped"), Step::message("ok")]).await;
    let body = serde_json::to_vec(&codex_body("zipped prompt")).unwrap();
    let zstd_body = zstd::encode_all(body.as_slice(), 3).unwrap();
    let reply = post_raw(&server.base_url(), zstd_body, &[("content-encoding", "zstd")]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let unknown = post_raw(&server.base_url(), b"xx".to_vec(), &[("content-encoding", "br")]).await;
    assert_eq!(unknown.status, 400);
    assert!(unknown.error_message().contains("content-encoding br"), "{}", unknown.error_message());
    let captures = server.captures().await;
    assert_eq!(captures[0].request.body, codex_body("zipped prompt"));
    assert_eq!(captures[0].request.header("content-encoding"), Some("zstd"));
}

#[tokio::test]
async fn a_step_answers_with_values_taken_from_the_request() {
    let server = start([Step::function_call("write_stdin", json!({"session_id": "{{session}}", "chars": "y\n"}))
        .extract("session", r"session ID (\d+)")])
    .await;
    let mut body = codex_body("x");
    body["input"].as_array_mut().unwrap().push(
        json!({"type": "function_call_output", "call_id": "c1", "output": "Process running with session ID 4242"}),
    );
    let reply = post(&server.base_url(), &body, &[("thread-id", "a")]).await;
    let arguments = &reply.last_data()["response"]["output"][0]["arguments"];
    assert_eq!(arguments, "{\"session_id\":4242,\"chars\":\"y\\n\"}");

    let missing = post(&server.base_url(), &codex_body("x"), &[("thread-id", "b")]).await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.json()["error"]["code"], "parity_extract_failed");
    assert!(missing.error_message().contains("extract.session: no input item matches"), "{}", missing.error_message());
}

#[tokio::test]
async fn a_hold_without_a_name_of_its_own_is_released_by_its_steps_name() {
    let server = start([Step::message("held").name("steer point").hold_before("response.completed")]).await;
    let base = server.base_url();
    let request = tokio::spawn(async move { post(&base, &codex_body("x"), &[]).await });
    let hold = server.wait_for_hold("steer point", Duration::from_secs(5)).await;
    assert!(hold.is_some(), "no hold named after the step; holds: {:?}", server.holds());
    let url = format!("{}/_parity/holds/steer%20point/release", server.url());
    let released = common::client().post(url).send().await.unwrap();
    assert_eq!(released.status(), 200);
    let reply = tokio::time::timeout(Duration::from_secs(5), request).await.expect("released").unwrap();
    assert_eq!(reply.event_types().last().map(String::as_str), Some("response.completed"));
}

#[tokio::test]
async fn a_client_closing_a_held_stream_is_recorded_as_what_ended_the_hold() {
    let server = start([Step::message("held").hold(Hold::named("steer").before("response.completed"))]).await;
    let base = server.base_url();
    let request = tokio::spawn(async move { post(&base, &codex_body("x"), &[]).await });
    server.wait_for_hold("steer", Duration::from_secs(5)).await.expect("held");
    request.abort();
    let _ = request.await;
    assert!(server.settle(Duration::from_secs(5)).await, "the exchange ends once the agent is gone");
    let captures = server.captures().await;
    assert_eq!(captures[0].response.outcome, Outcome::ClientClosed);
    let hold = &captures[0].script.as_ref().unwrap().holds[0];
    assert_eq!(hold.released_by.as_deref(), Some("client_closed"), "{hold:?}");
    let released_at = hold.released_at_ms.expect("when the agent left");
    assert!(released_at >= hold.held_at_ms, "{hold:?}");
    assert!(server.holds().is_empty());
}
