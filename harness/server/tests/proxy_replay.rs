//! Proxy mode in front of a scripted server, and replay of what the proxy recorded.

mod common;

use std::time::Duration;

use common::{codex_body, post};
use parity_capture::{Outcome, Recording};
use parity_server::{Pace, ParityServer, ProxyConfig, Script, Step};
use serde_json::json;

async fn origin(script: impl Into<Script>) -> ParityServer {
    ParityServer::scripted(script).start().await.unwrap()
}

async fn proxy_to(origin: &ParityServer, credential: Option<&str>, captures: Option<&std::path::Path>) -> ParityServer {
    let config = ProxyConfig { origin: origin.base_url(), credential: credential.map(str::to_string) };
    let mut builder = ParityServer::proxy(config);
    if let Some(dir) = captures {
        builder = builder.captures_dir(dir);
    }
    builder.start().await.unwrap()
}

fn texts(reply: &common::Reply) -> Vec<serde_json::Value> {
    reply.events.iter().map(|(_, f)| f.data_value()).collect()
}

#[tokio::test]
async fn the_proxy_streams_chunk_by_chunk_and_records_both_sides() {
    let origin = origin([Step::message("one two three four five").delay_ms(100)]).await;
    let proxy = proxy_to(&origin, Some("sk-origin-key-000000000"), None).await;
    let reply =
        post(&proxy.base_url(), &codex_body("hi"), &[("authorization", "Bearer dummy"), ("thread-id", "t")]).await;

    assert_eq!(reply.status, 200);
    let (first, last) = (reply.events.first().unwrap().0, reply.events.last().unwrap().0);
    assert!(first < Duration::from_millis(80), "the first event is not held back: {first:?}");
    assert!(last - first >= Duration::from_millis(100) * (reply.events.len() as u32 - 2), "{first:?}..{last:?}");

    let at_origin = &origin.captures().await[0];
    let at_proxy = &proxy.captures().await[0];
    assert_eq!(at_origin.request.body, codex_body("hi"), "the body goes through untouched");
    assert_eq!(at_origin.request.header("thread-id"), Some("t"));
    let origin_auth = at_origin.request.header("authorization").unwrap();
    let proxy_auth = at_proxy.request.header("authorization").unwrap();
    assert!(origin_auth.starts_with("Bearer <redacted:") && proxy_auth.starts_with("Bearer <redacted:"));
    assert_ne!(origin_auth, proxy_auth, "the origin got the proxy's key, not the agent's dummy");
    assert_eq!(parity_capture::redact::redact_value("authorization", "Bearer sk-origin-key-000000000"), origin_auth);

    let proxy_info = at_proxy.proxy.as_ref().unwrap();
    assert!(proxy_info.credential_replaced);
    assert_eq!(proxy_info.url, format!("{}/responses", origin.base_url()));
    assert_eq!(at_proxy.response.events.len(), reply.events.len());
    let recorded: Vec<_> = at_proxy.response.events.iter().map(|e| e.data.clone()).collect();
    assert_eq!(recorded, texts(&reply));
    assert_eq!(at_proxy.response.outcome, Outcome::Completed);
}

#[tokio::test]
async fn origin_failures_reach_the_agent_as_the_origin_sent_them() {
    let origin = origin([
        Step::http_error(500).retry_after(1),
        Step::message("partial").disconnect_before("response.completed"),
    ])
    .await;
    let proxy = proxy_to(&origin, None, None).await;
    let error = post(&proxy.base_url(), &codex_body("x"), &[]).await;
    assert_eq!(error.status, 500);
    assert_eq!(error.headers["retry-after"], "1");
    assert_eq!(error.json()["error"]["type"], "server_error");

    let cut = post(&proxy.base_url(), &codex_body("x"), &[]).await;
    assert!(cut.error.is_some(), "the break reaches the agent");
    assert!(cut.event_types().contains(&"response.output_item.done".to_string()), "after the events before it");

    let captures = proxy.captures().await;
    assert_eq!((captures[0].response.status, captures[0].response.outcome), (500, Outcome::Completed));
    assert_eq!(captures[0].response.body.as_ref().unwrap()["error"]["type"], "server_error");
    assert_eq!(captures[1].response.outcome, Outcome::Dropped);
    assert!(captures[1].response.error.as_deref().unwrap().contains("broke off"));
}

#[tokio::test]
async fn an_unreachable_origin_is_a_502_that_says_so() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let config = ProxyConfig { origin: format!("http://{closed}/v1"), credential: None };
    let proxy = ParityServer::proxy(config).start().await.unwrap();
    let reply = post(&proxy.base_url(), &codex_body("x"), &[]).await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.json()["error"]["code"], "parity_origin_unreachable");
    assert!(reply.error_message().contains(&closed.to_string()), "{}", reply.error_message());
    assert_eq!(proxy.captures().await[0].response.outcome, Outcome::OriginUnreachable);
}

#[tokio::test]
async fn a_proxy_recording_replays_with_no_origin_and_refuses_what_does_not_match() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new()
        .step(Step::function_call("exec_command", json!({"cmd": "ls"})).call_id("call_1"))
        .step(Step::message("done").expect_function_call_output("call_1"))
        .step(Step::http_error(503).retry_after(2))
        .step(Step::message("cut").disconnect_before("response.completed"));
    let first_turn = codex_body("list files");
    let mut second_turn = first_turn.clone();
    second_turn["input"].as_array_mut().unwrap().extend([
        json!({"type": "function_call", "call_id": "call_1", "name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"}),
        json!({"type": "function_call_output", "call_id": "call_1", "output": "a.txt"}),
    ]);
    let headers = [("thread-id", "run-1")];
    let recorded = {
        let origin = origin(script).await;
        let proxy = proxy_to(&origin, None, Some(dir.path())).await;
        let mut replies = Vec::new();
        for body in [&first_turn, &second_turn, &second_turn, &second_turn] {
            replies.push(post(&proxy.base_url(), body, &headers).await);
        }
        proxy.settle(Duration::from_secs(5)).await;
        replies
    };

    // The origin is gone; the recording answers, under another session id.
    let replay = ParityServer::replay(Recording::load(dir.path()).unwrap()).start().await.unwrap();
    let headers = [("thread-id", "run-2")];
    let again: Vec<_> = {
        let mut replies = Vec::new();
        for body in [&first_turn, &second_turn, &second_turn, &second_turn] {
            replies.push(post(&replay.base_url(), body, &headers).await);
        }
        replies
    };
    assert_eq!(texts(&again[0]), texts(&recorded[0]));
    assert_eq!(texts(&again[1]), texts(&recorded[1]));
    assert_eq!((again[2].status, again[2].headers["retry-after"].to_str().unwrap()), (503, "2"));
    assert!(again[3].error.is_some(), "a recorded cut is replayed as a cut");
    assert_eq!(texts(&again[3]), texts(&recorded[3]));
    let sources: Vec<_> = replay.captures().await.iter().map(|c| c.replay.clone().unwrap().source.unwrap()).collect();
    assert_eq!(sources[1], "session-01/0002-post-responses.json");

    // A fresh replay server: the same point of the conversation with another prompt is refused, precisely.
    let replay = ParityServer::replay(Recording::load(dir.path()).unwrap()).start().await.unwrap();
    let wrong = post(&replay.base_url(), &codex_body("delete files"), &headers).await;
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.json()["error"]["code"], "parity_replay_mismatch");
    let message = wrong.error_message();
    assert!(message.contains("request 1 of session 1 (POST /v1/responses)"), "{message}");
    assert!(message.contains("/body/input/0/content: recorded \"list files\", received \"delete files\""), "{message}");
    let capture = &replay.captures().await[0];
    assert_eq!(capture.replay.as_ref().unwrap().mismatches[0].path, "/body/input/0/content");

    // Past the end of the recording, and a second session the recording never had.
    for _ in 0..4 {
        post(&replay.base_url(), &first_turn, &headers).await;
    }
    let past = post(&replay.base_url(), &first_turn, &headers).await;
    assert_eq!(past.json()["error"]["code"], "parity_replay_exhausted");
    let other = post(&replay.base_url(), &first_turn, &[("thread-id", "run-3")]).await;
    assert!(other.error_message().contains("the recording has 1 session(s)"), "{}", other.error_message());
}

#[tokio::test]
async fn replay_can_keep_the_recorded_pace() {
    let dir = tempfile::tempdir().unwrap();
    {
        let origin = origin([Step::message("a b c").delay_ms(80)]).await;
        let proxy = proxy_to(&origin, None, Some(dir.path())).await;
        post(&proxy.base_url(), &codex_body("x"), &[]).await;
        proxy.settle(Duration::from_secs(5)).await;
    }
    let span = |r: &common::Reply| r.events.last().unwrap().0 - r.events.first().unwrap().0;
    let fast = ParityServer::replay(Recording::load(dir.path()).unwrap()).start().await.unwrap();
    let quick = post(&fast.base_url(), &codex_body("x"), &[]).await;
    let paced = ParityServer::replay(Recording::load(dir.path()).unwrap()).pace(Pace::Recorded).start().await.unwrap();
    let slow = post(&paced.base_url(), &codex_body("x"), &[]).await;
    let gaps = slow.events.len() as u32 - 1;
    assert!(span(&slow) >= Duration::from_millis(70) * gaps, "{:?}", span(&slow));
    assert!(span(&quick) < Duration::from_millis(80), "{:?}", span(&quick));
}

#[tokio::test]
async fn a_scripted_recording_replays_too() {
    let dir = tempfile::tempdir().unwrap();
    let recorded = {
        let server = ParityServer::scripted([Step::reasoning("r").then_message("from the script")])
            .captures_dir(dir.path())
            .start()
            .await
            .unwrap();
        let reply = post(&server.base_url(), &codex_body("x"), &[]).await;
        server.settle(Duration::from_secs(5)).await;
        reply
    };
    let replay = ParityServer::replay(Recording::load(dir.path()).unwrap()).start().await.unwrap();
    let again = post(&replay.base_url(), &codex_body("x"), &[]).await;
    assert_eq!(texts(&again), texts(&recorded));
    assert_eq!(replay.captures().await[0].mode, parity_capture::Mode::Replay);
}
