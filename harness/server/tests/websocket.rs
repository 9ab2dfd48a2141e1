//! The Responses WebSocket transport, driven by a real WebSocket client against a real server on loopback.

mod common;

use std::time::Duration;

use common::{codex_body, post};
use futures_util::{SinkExt, StreamExt};
use parity_capture::{Outcome, Recording, Transport};
use parity_server::{ParityServer, Script, Step};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(10);

async fn connect(server: &ParityServer, session: &str) -> Result<Ws, WsError> {
    let url = format!("ws://{}/v1/responses", server.addr());
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("openai-beta", "responses_websockets=2026-02-06".parse().unwrap());
    request.headers_mut().insert("session-id", session.parse().unwrap());
    request.headers_mut().insert("authorization", "Bearer sk-secret-ws-key".parse().unwrap());
    tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request)).await.expect("connects in time").map(|c| c.0)
}

fn create(prompt: &str) -> Message {
    let mut body = codex_body(prompt);
    let object = body.as_object_mut().unwrap();
    object.shift_insert(0, "type".into(), json!("response.create"));
    Message::Text(body.to_string().into())
}

/// What the server sent until `response.completed` (or an error event), or the close frame that came first.
enum Read {
    Events(Vec<Value>),
    Closed(Vec<Value>, Option<(u16, String)>),
}

async fn read_response(ws: &mut Ws) -> Read {
    let mut events = Vec::new();
    loop {
        let next = tokio::time::timeout(WAIT, ws.next()).await.expect("a frame in time");
        match next {
            Some(Ok(Message::Text(text))) => {
                let event: Value = serde_json::from_str(text.as_str()).expect("each frame is one JSON event");
                let kind = event["type"].as_str().unwrap_or_default().to_string();
                events.push(event);
                if kind == "response.completed" || kind == "response.failed" || kind == "error" {
                    return Read::Events(events);
                }
            }
            Some(Ok(Message::Close(frame))) => {
                return Read::Closed(events, frame.map(|f| (u16::from(f.code), f.reason.to_string())));
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return Read::Closed(events, None),
        }
    }
}

fn events(read: Read) -> Vec<Value> {
    match read {
        Read::Events(events) => events,
        Read::Closed(events, close) => panic!("closed ({close:?}) after {events:?}"),
    }
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

fn text_of(events: &[Value]) -> String {
    let done = events.iter().find(|e| e["type"] == "response.output_item.done").expect("an item");
    done["item"]["content"][0]["text"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_scripted_reply_goes_out_as_one_text_frame_per_event_and_is_captured_as_a_websocket_request() {
    let server =
        ParityServer::scripted(Script::new().step(Step::message("Hello over a socket."))).start().await.unwrap();
    let mut ws = connect(&server, "S1").await.unwrap();
    ws.send(create("hi")).await.unwrap();
    let events = events(read_response(&mut ws).await);
    let types = types(&events);
    assert_eq!(types.first(), Some(&"response.created"));
    assert_eq!(types.last(), Some(&"response.completed"));
    assert!(types.contains(&"response.output_text.delta"), "{types:?}");
    assert_eq!(text_of(&events), "Hello over a socket.");
    ws.close(None).await.unwrap();

    let captures = server.model_requests().await;
    assert_eq!(captures.len(), 1);
    let c = &captures[0];
    assert_eq!(c.transport, Some(Transport::Websocket));
    assert_eq!((c.request.method.as_str(), c.request.path.as_str()), ("POST", "/v1/responses"));
    assert_eq!(c.request.body["type"], "response.create");
    assert_eq!(c.request.body["model"], "gpt-5.5");
    assert_eq!(c.request.headers.get("openai-beta"), Some("responses_websockets=2026-02-06"));
    assert_eq!(c.request.headers.get("upgrade"), Some("websocket"));
    assert!(!c.request.headers.get("authorization").unwrap().contains("sk-secret-ws-key"), "redacted");
    let ws_info = c.websocket.as_ref().unwrap();
    assert_eq!((ws_info.connection, ws_info.message), (1, 1));
    assert_eq!(c.response.status, 200);
    assert_eq!(c.response.outcome, Outcome::Completed);
    assert_eq!(c.response.events.len(), events.len(), "every frame is recorded");
    assert_eq!(c.script.as_ref().unwrap().step, Some(1));
}

#[tokio::test]
async fn two_response_create_messages_on_one_connection_take_two_steps_in_order() {
    let script = Script::new()
        .step(Step::function_call("exec_command", json!({"cmd": "ls"})).call_id("call_1"))
        .step(Step::message("Listed.").expect_function_call_output("call_1"));
    let server = ParityServer::verified(script).start().await.unwrap();
    let mut ws = connect(&server, "S2").await.unwrap();
    ws.send(create("list")).await.unwrap();
    let first = events(read_response(&mut ws).await);
    assert!(first.iter().any(|e| e["item"]["type"] == "function_call"), "{first:?}");
    let mut second = codex_body("list");
    second["type"] = json!("response.create");
    second["input"].as_array_mut().unwrap().push(
        json!({"type": "function_call", "call_id": "call_1", "name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"}),
    );
    second["input"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "function_call_output", "call_id": "call_1", "output": "a b"}));
    ws.send(Message::Text(second.to_string().into())).await.unwrap();
    let second = events(read_response(&mut ws).await);
    assert_eq!(text_of(&second), "Listed.");
    ws.close(None).await.unwrap();

    let captures = server.model_requests().await;
    assert_eq!(captures.len(), 2);
    let places: Vec<(u32, u64, u32)> = captures
        .iter()
        .map(|c| (c.seq, c.websocket.as_ref().unwrap().connection, c.websocket.as_ref().unwrap().message))
        .collect();
    assert_eq!(places, vec![(1, 1, 1), (2, 1, 2)]);
    assert_eq!(captures[1].script.as_ref().unwrap().step, Some(2));
    assert!(captures.iter().all(|c| c.session.index == 1));
}

#[tokio::test]
async fn a_hold_stops_the_frames_until_released() {
    let server =
        ParityServer::scripted(Script::new().step(Step::message("after the hold").hold_before("response.completed")))
            .start()
            .await
            .unwrap();
    let mut ws = connect(&server, "S3").await.unwrap();
    ws.send(create("hold me")).await.unwrap();
    let hold = server.wait_for_hold("step-1", WAIT).await.expect("the stream reaches the hold");
    assert_eq!(hold.before, "response.completed");
    // Everything before the hold has arrived; nothing after it does until the release.
    let mut before = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_millis(300), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => before.push(serde_json::from_str::<Value>(text.as_str()).unwrap()),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => break,
        }
    }
    assert_eq!(types(&before).last(), Some(&"response.output_item.done"), "{:?}", types(&before));
    assert_eq!(server.release("step-1"), 1);
    let rest = events(read_response(&mut ws).await);
    assert_eq!(types(&rest), vec!["response.completed"]);
    ws.close(None).await.unwrap();
    let capture = &server.model_requests().await[0];
    let holds = &capture.script.as_ref().unwrap().holds;
    assert_eq!(holds.len(), 1);
    assert_eq!(holds[0].released_by.as_deref(), Some("release"));
}

#[tokio::test]
async fn a_refused_upgrade_answers_an_http_status_and_the_agent_falls_back_to_https() {
    let script = Script::new().step(Step::refuse_upgrade(426)).step(Step::message("Over HTTPS."));
    let server = ParityServer::verified(script).start().await.unwrap();
    match connect(&server, "S4").await {
        Err(WsError::Http(response)) => assert_eq!(response.status().as_u16(), 426),
        Err(other) => panic!("refused with {other:?}"),
        Ok(_) => panic!("the upgrade was accepted"),
    }
    let reply = post(&server.base_url(), &codex_body("hi"), &[("session-id", "S4")]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.last_data()["type"], "response.completed");

    let captures = server.captures().await;
    assert_eq!(captures.len(), 2);
    let (upgrade, fallback) = (&captures[0], &captures[1]);
    assert_eq!(upgrade.request.method, "GET");
    assert_eq!(upgrade.transport, Some(Transport::Websocket));
    assert_eq!(upgrade.response.status, 426);
    assert_eq!(upgrade.script.as_ref().unwrap().step, Some(1));
    assert_eq!(fallback.transport, None, "the fallback came over HTTP");
    assert_eq!(fallback.script.as_ref().unwrap().step, Some(2));
    assert_eq!((upgrade.session.index, fallback.session.index), (1, 1));
}

#[tokio::test]
async fn a_step_that_refuses_an_upgrade_tells_an_http_request_so() {
    let server = ParityServer::scripted(Script::new().step(Step::refuse_upgrade(426))).start().await.unwrap();
    let reply = post(&server.base_url(), &codex_body("hi"), &[]).await;
    assert_eq!(reply.status, 400);
    assert!(reply.error_message().contains("refuses a WebSocket upgrade"), "{}", reply.error_message());
}

#[tokio::test]
async fn a_scripted_close_ends_the_connection_mid_stream_with_its_code() {
    let script = Script::new().step(Step::message("cut short").close_before("response.completed", 1011, "boom"));
    let server = ParityServer::scripted(script).start().await.unwrap();
    let mut ws = connect(&server, "S5").await.unwrap();
    ws.send(create("hi")).await.unwrap();
    match read_response(&mut ws).await {
        Read::Closed(events, close) => {
            assert_eq!(close, Some((1011, "boom".to_string())));
            assert!(types(&events).contains(&"response.output_item.done"));
            assert!(!types(&events).contains(&"response.completed"));
        }
        Read::Events(events) => panic!("not closed: {:?}", types(&events)),
    }
    let capture = &server.model_requests().await[0];
    assert_eq!(capture.response.outcome, Outcome::Dropped);
    let info = capture.websocket.as_ref().unwrap();
    assert_eq!((info.close_code, info.close_reason.as_deref()), (Some(1011), Some("boom")));
}

#[tokio::test]
async fn an_http_failure_goes_out_as_a_wrapped_error_frame() {
    let server =
        ParityServer::scripted(Script::new().step(Step::http_error(429).retry_after(3))).start().await.unwrap();
    let mut ws = connect(&server, "S6").await.unwrap();
    ws.send(create("hi")).await.unwrap();
    let events = events(read_response(&mut ws).await);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "error");
    assert_eq!(events[0]["status"], 429);
    assert_eq!(events[0]["headers"]["retry-after"], "3");
    let capture = &server.model_requests().await[0];
    assert_eq!(capture.response.status, 429);
}

#[tokio::test]
async fn a_websocket_recording_replays_over_websocket_close_included() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new().step(Step::message("first")).step(Step::message("second").close_before(
        "response.completed",
        1001,
        "going away",
    ));
    let recorder = ParityServer::scripted(script).captures_dir(dir.path()).start().await.unwrap();
    let mut ws = connect(&recorder, "R1").await.unwrap();
    ws.send(create("one")).await.unwrap();
    let recorded_first = events(read_response(&mut ws).await);
    ws.send(create("two")).await.unwrap();
    let Read::Closed(recorded_second, _) = read_response(&mut ws).await else { panic!("closed") };
    assert!(recorder.settle(WAIT).await);
    drop(recorder);

    let recording = Recording::load(dir.path()).unwrap();
    assert!(recording.exchanges().all(|e| e.capture.is_websocket()), "the transport is on disk");
    let replay = ParityServer::replay(recording).start().await.unwrap();
    let mut ws = connect(&replay, "another-session-id").await.unwrap();
    ws.send(create("one")).await.unwrap();
    assert_eq!(events(read_response(&mut ws).await), recorded_first);
    ws.send(create("two")).await.unwrap();
    match read_response(&mut ws).await {
        Read::Closed(events, close) => {
            assert_eq!(events, recorded_second);
            assert_eq!(close, Some((1001, "going away".to_string())));
        }
        Read::Events(_) => panic!("the replay did not close"),
    }
    let captures = replay.model_requests().await;
    assert_eq!(captures.len(), 2);
    assert!(captures.iter().all(|c| c.is_websocket() && c.replay.as_ref().unwrap().source.is_some()));
}

#[tokio::test]
async fn a_refused_upgrade_replays_as_refused() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new().step(Step::refuse_upgrade(503)).step(Step::message("fallback"));
    let recorder = ParityServer::scripted(script).captures_dir(dir.path()).start().await.unwrap();
    assert!(connect(&recorder, "R2").await.is_err());
    post(&recorder.base_url(), &codex_body("hi"), &[("session-id", "R2")]).await;
    assert!(recorder.settle(WAIT).await);
    drop(recorder);
    let replay = ParityServer::replay(Recording::load(dir.path()).unwrap()).start().await.unwrap();
    match connect(&replay, "R2").await {
        Err(WsError::Http(response)) => assert_eq!(response.status().as_u16(), 503),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
    let reply = post(&replay.base_url(), &codex_body("hi"), &[("session-id", "R2")]).await;
    assert_eq!(reply.status, 200);
}

#[test]
fn websocket_failures_are_checked_when_a_script_loads() {
    use parity_server::script::Syntax;
    let err = |text: &str| Script::parse(text, Syntax::Toml, "ws.toml").unwrap_err().to_string();
    let e = err("[[steps]]\noutput = [{ message = \"a\" }]\nfail = { close = { code = 1005 } }\n");
    assert!(e.contains("ws.toml") && e.contains("step 1: fail.close.code 1005"), "{e}");
    let e = err("[[steps]]\noutput = [{ message = \"a\" }]\nfail = { close = { before = \"nope\" } }\n");
    assert!(e.contains("step 1: fail.close.before \"nope\" matches no event"), "{e}");
    let e =
        err("[[steps]]\n\n[[steps]]\noutput = [{ message = \"a\" }]\nfail = { refuse_upgrade = { status = 426 } }\n");
    assert!(e.contains("step 2: fail.refuse_upgrade answers the WebSocket upgrade"), "{e}");
    let e = err("[[steps]]\nfail = { refuse_upgrade = { status = 101 } }\n");
    assert!(e.contains("step 1: fail.refuse_upgrade.status 101"), "{e}");
    Script::parse("[[steps]]\nfail = { refuse_upgrade = {} }\n", Syntax::Toml, "ok.toml").unwrap();
    Script::parse("[[steps]]\nfail = { close = { code = 4000, reason = \"x\" } }\n", Syntax::Toml, "ok.toml").unwrap();
}

async fn ws_proxy_to(origin: &ParityServer, credential: Option<&str>) -> ParityServer {
    let config = parity_server::ProxyConfig { origin: origin.base_url(), credential: credential.map(str::to_string) };
    ParityServer::proxy(config).start().await.unwrap()
}

#[tokio::test]
async fn the_proxy_joins_the_agent_to_a_websocket_origin_frame_by_frame_and_records_each_request() {
    let origin = ParityServer::scripted(
        Script::new().step(Step::message("one").header("x-codex-turn-state", "ts-1")).step(Step::message("two")),
    )
    .start()
    .await
    .unwrap();
    let proxy = ws_proxy_to(&origin, Some("sk-origin-key")).await;
    let mut ws = connect(&proxy, "P1").await.unwrap();
    ws.send(create("first")).await.unwrap();
    let first = events(read_response(&mut ws).await);
    assert_eq!(text_of(&first), "one");
    ws.send(create("second")).await.unwrap();
    let second = events(read_response(&mut ws).await);
    assert_eq!(text_of(&second), "two");
    ws.close(None).await.unwrap();

    let at_origin = origin.model_requests().await;
    assert_eq!(at_origin.len(), 2, "both messages reached the origin over one of its WebSockets");
    assert!(at_origin.iter().all(|c| c.is_websocket() && c.websocket.as_ref().unwrap().connection == 1));
    assert_eq!(at_origin[0].request.headers.get("openai-beta"), Some("responses_websockets=2026-02-06"));
    let agent_key = proxy.model_requests().await[0].request.headers.get("authorization").unwrap().to_string();
    let origin_key = at_origin[0].request.headers.get("authorization").unwrap().to_string();
    assert_ne!(agent_key, origin_key, "the origin got the proxy's credential, not the agent's");

    let recorded = proxy.model_requests().await;
    assert_eq!(recorded.len(), 2);
    for (capture, sent) in recorded.iter().zip([&first, &second]) {
        assert!(capture.is_websocket());
        assert_eq!(capture.response.outcome, Outcome::Completed);
        let frames: Vec<Value> = capture.response.events.iter().map(|e| e.data.clone()).collect();
        assert_eq!(&frames, sent, "every origin frame is recorded as the agent got it");
        let proxy_info = capture.proxy.as_ref().unwrap();
        assert!(proxy_info.url.starts_with("ws://") && proxy_info.credential_replaced, "{proxy_info:?}");
    }
    assert_eq!(recorded[1].websocket.as_ref().unwrap().message, 2);
}

#[tokio::test]
async fn the_proxy_passes_on_an_origin_refusal_and_an_origin_close() {
    let origin =
        ParityServer::scripted(Script::new().step(Step::refuse_upgrade(426)).step(Step::message("cut").close_before(
            "response.completed",
            1013,
            "try again later",
        )))
        .start()
        .await
        .unwrap();
    let proxy = ws_proxy_to(&origin, None).await;
    match connect(&proxy, "P2").await {
        Err(WsError::Http(response)) => assert_eq!(response.status().as_u16(), 426),
        other => panic!("expected the origin's refusal, got {:?}", other.map(|_| ())),
    }
    let mut ws = connect(&proxy, "P2").await.unwrap();
    ws.send(create("hi")).await.unwrap();
    match read_response(&mut ws).await {
        Read::Closed(events, close) => {
            assert_eq!(close, Some((1013, "try again later".to_string())));
            assert!(!types(&events).contains(&"response.completed"));
        }
        Read::Events(events) => panic!("not closed: {:?}", types(&events)),
    }
    let captures = proxy.captures().await;
    assert_eq!(captures.len(), 2);
    assert_eq!((captures[0].request.method.as_str(), captures[0].response.status), ("GET", 426));
    assert!(captures[0].proxy.is_some());
    assert_eq!(captures[1].response.outcome, Outcome::Dropped);
    assert_eq!(captures[1].websocket.as_ref().unwrap().close_code, Some(1013));
}

#[tokio::test]
async fn an_origin_that_fails_the_tls_handshake_is_a_502_for_the_agent() {
    // A TCP listener that takes connections and closes them: the proxy's wss:// handshake fails there.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let closer = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    let config = parity_server::ProxyConfig { origin: format!("https://127.0.0.1:{port}/v1"), credential: None };
    let proxy = ParityServer::proxy(config).start().await.unwrap();
    match connect(&proxy, "P3").await {
        Err(WsError::Http(response)) => assert_eq!(response.status().as_u16(), 502),
        other => panic!("expected a 502, got {:?}", other.map(|_| ())),
    }
    let capture = &proxy.captures().await[0];
    assert_eq!(capture.response.status, 502);
    assert!(capture.proxy.as_ref().unwrap().url.starts_with("wss://127.0.0.1:"));
    let body = capture.response.body.as_ref().unwrap().to_string();
    assert!(body.contains("could not be reached over WebSocket"), "{body}");
    closer.abort();
}

#[tokio::test]
async fn a_warm_up_with_generate_false_is_answered_empty_and_takes_no_step() {
    let server = ParityServer::verified(Script::new().step(Step::message("The real answer."))).start().await.unwrap();
    let mut ws = connect(&server, "W1").await.unwrap();
    let mut warmup = codex_body("hi");
    warmup["type"] = json!("response.create");
    warmup["generate"] = json!(false);
    ws.send(Message::Text(warmup.to_string().into())).await.unwrap();
    let empty = events(read_response(&mut ws).await);
    assert_eq!(types(&empty), vec!["response.created", "response.completed"]);
    assert_eq!(empty[1]["response"]["output"], json!([]));
    ws.send(create("hi")).await.unwrap();
    assert_eq!(text_of(&events(read_response(&mut ws).await)), "The real answer.");
    ws.close(None).await.unwrap();
    let captures = server.model_requests().await;
    let scripts: Vec<_> = captures.iter().map(|c| c.script.clone().unwrap()).collect();
    assert!(scripts[0].warmup && scripts[0].step.is_none());
    assert!(!scripts[1].warmup);
    assert_eq!(scripts[1].step, Some(1));
}

#[tokio::test]
async fn a_hold_is_released_by_the_next_request_on_the_same_connection() {
    let hold = parity_server::Hold::named("steer").before("response.completed").until(parity_server::Until::Either);
    let script = Script::new().step(Step::message("held").hold(hold)).step(Step::message("next"));
    let server = ParityServer::scripted(script).start().await.unwrap();
    let mut ws = connect(&server, "H2").await.unwrap();
    ws.send(create("first")).await.unwrap();
    server.wait_for_hold("steer", WAIT).await.expect("held");
    ws.send(create("second")).await.unwrap();
    // The held response ends first, then the next one streams.
    let first = events(read_response(&mut ws).await);
    assert_eq!(text_of(&first), "held");
    assert_eq!(text_of(&events(read_response(&mut ws).await)), "next");
    ws.close(None).await.unwrap();
    let captures = server.model_requests().await;
    let holds = &captures[0].script.as_ref().unwrap().holds;
    assert_eq!(holds[0].released_by.as_deref(), Some("next_request"));
}
