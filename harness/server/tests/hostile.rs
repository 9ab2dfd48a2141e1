//! What a careless or hostile client or origin sends: characters a header rarely holds, credentials in
//! expectations, origins that cut, compress or frame their streams unusually, methods no one uses.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{client, codex_body, get_json, post, read};
use parity_capture::{Outcome, Recording};
use parity_server::{ParityServer, ProxyConfig, Step};
use reqwest::header::HeaderValue;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An origin that answers every connection with the same raw bytes, then closes it; it keeps each request's head.
struct RawOrigin {
    base_url: String,
    heads: Arc<Mutex<Vec<String>>>,
}

async fn raw_origin(answer: Vec<u8>) -> RawOrigin {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
    let heads = Arc::new(Mutex::new(Vec::new()));
    let kept = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (answer, kept) = (answer.clone(), kept.clone());
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // The head, then as much body as content-length says.
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let Ok(n) = socket.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                let text = String::from_utf8_lossy(&request).into_owned();
                let head_len = text.find("\r\n\r\n").unwrap() + 4;
                let length: usize = text
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                while request.len() < head_len + length {
                    let Ok(n) = socket.read(&mut buf).await else { return };
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                kept.lock().unwrap().push(text[..head_len].to_string());
                let _ = socket.write_all(&answer).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    RawOrigin { base_url, heads }
}

const CREATED: &str = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r\"}}\n\n";
const COMPLETED: &str =
    "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\"}}\n\n";

fn stream_answer(extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n{extra_headers}content-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(body);
    answer
}

async fn proxy_to(origin: &str, captures: Option<&std::path::Path>) -> ParityServer {
    let mut builder = ParityServer::proxy(ProxyConfig { origin: origin.to_string(), credential: None });
    if let Some(dir) = captures {
        builder = builder.captures_dir(dir);
    }
    builder.start().await.unwrap()
}

async fn in_flight(server: &ParityServer) -> u64 {
    get_json(&format!("{}/_parity/health", server.url())).await["in_flight"].as_u64().unwrap()
}

#[tokio::test]
async fn multi_byte_request_headers_are_captured_and_answered_with_no_gap_in_the_numbering() {
    let server = ParityServer::scripted([Step::message("one"), Step::message("two")]).start().await.unwrap();
    let first = client()
        .post(format!("{}/responses", server.base_url()))
        .header("content-type", "application/json")
        .header("thread-id", "t")
        .header("x-user", HeaderValue::from_bytes("山田太郎".as_bytes()).unwrap())
        .header("x-note", HeaderValue::from_bytes("abcdef€".as_bytes()).unwrap())
        .header("x-api-key", HeaderValue::from_bytes("clé-secrète€".as_bytes()).unwrap())
        .body(codex_body("hi").to_string());
    let reply = read(first).await;
    assert_eq!(reply.status, 200);
    let second = post(&server.base_url(), &codex_body("again"), &[("thread-id", "t")]).await;
    assert_eq!(second.status, 200);
    let captures = server.captures().await;
    assert_eq!(captures.iter().map(|c| c.seq).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(captures[0].request.header("x-user"), Some("山田太郎"));
    assert_eq!(captures[0].request.header("x-note"), Some("abcdef€"));
    assert!(captures[0].request.header("x-api-key").unwrap().starts_with("<redacted:"));
    assert_eq!(in_flight(&server).await, 0);
}

#[tokio::test]
async fn a_failed_expectation_on_a_credential_names_neither_key_in_the_answer_or_the_capture() {
    let expected = "sk-expected-secret-0123456789";
    let received = "sk-received-secret-9876543210";
    let logged = Arc::new(Mutex::new(Vec::new()));
    let log = logged.clone();
    let server = ParityServer::scripted([Step::message("m")
        .expect_header("authorization", format!("Bearer {expected}"))
        .expect_header("x-tenant-token", expected)])
    .on_finish(move |c| log.lock().unwrap().push(serde_json::to_string(c).unwrap()))
    .start()
    .await
    .unwrap();
    let auth = format!("Bearer {received}");
    let reply =
        post(&server.base_url(), &codex_body("hi"), &[("authorization", &auth), ("x-tenant-token", received)]).await;
    assert_eq!(reply.status, 400);
    let message = reply.error_message();
    assert!(message.contains("authorization \"Bearer <redacted:"), "{message}");
    let capture = serde_json::to_string(&server.captures().await[0]).unwrap();
    for text in [&reply.body, &capture, &logged.lock().unwrap().join("\n")] {
        for secret in [expected, received] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }
}

#[tokio::test]
async fn an_origin_s_multi_byte_response_header_reaches_the_agent_and_the_exchange_ends() {
    let origin = raw_origin(stream_answer(
        "x-note: abcdef\u{20ac}\r\nx-user: \u{5c71}\u{7530}\r\n",
        format!("{CREATED}{COMPLETED}").as_bytes(),
    ))
    .await;
    let proxy = proxy_to(&origin.base_url, None).await;
    let reply = post(&proxy.base_url(), &codex_body("hi"), &[("thread-id", "t")]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.event_types(), ["response.created", "response.completed"]);
    assert_eq!(reply.headers["x-note"].as_bytes(), "abcdef€".as_bytes());
    let capture = &proxy.captures().await[0];
    assert_eq!(capture.response.outcome, Outcome::Completed);
    assert_eq!(capture.response.headers.get("x-user"), Some("山田"));
    assert_eq!(in_flight(&proxy).await, 0);
}

#[tokio::test]
async fn a_stream_cut_inside_an_event_is_dropped_whether_the_body_was_close_delimited_or_chunked() {
    let cut = "event: response.output_item.done\ndata: {\"type\":";
    let close_delimited =
        format!("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n{CREATED}{cut}");
    let chunk = format!("{CREATED}{cut}");
    let chunked = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n",
        chunk.len()
    );
    let mut outcomes = Vec::new();
    for answer in [close_delimited, chunked] {
        let origin = raw_origin(answer.into_bytes()).await;
        let proxy = proxy_to(&origin.base_url, None).await;
        let reply = post(&proxy.base_url(), &codex_body("hi"), &[("thread-id", "t")]).await;
        assert!(reply.error.is_some(), "the agent sees the cut too");
        let capture = &proxy.captures().await[0];
        assert_eq!(capture.response.events.len(), 1, "the whole event before the cut is kept");
        outcomes.push(capture.response.outcome);
    }
    assert_eq!(outcomes, [Outcome::Dropped, Outcome::Dropped]);
}

#[tokio::test]
async fn an_unasked_gzip_stream_reaches_the_agent_intact_and_is_recorded_decoded_and_replays() {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(format!("{CREATED}{COMPLETED}").as_bytes()).unwrap();
    let gzipped = encoder.finish().unwrap();
    let origin = raw_origin(stream_answer("content-encoding: gzip\r\n", &gzipped)).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy_to(&origin.base_url, Some(dir.path())).await;
    let response = client()
        .post(format!("{}/responses", proxy.base_url()))
        .header("thread-id", "t")
        .body(codex_body("hi").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert_eq!(response.bytes().await.unwrap().as_ref(), gzipped.as_slice(), "the agent got the bytes as sent");
    proxy.settle(Duration::from_secs(5)).await;
    let recording = Recording::load(dir.path()).unwrap();
    let capture = &recording.sessions[0].exchanges[0].capture;
    assert_eq!(capture.response.outcome, Outcome::Completed);
    assert_eq!(capture.response.error, None);
    let types: Vec<_> = capture.response.events.iter().filter_map(|e| e.data["type"].as_str()).collect();
    assert_eq!(types, ["response.created", "response.completed"]);

    let replay = ParityServer::replay(recording).start().await.unwrap();
    let again = post(&replay.base_url(), &codex_body("hi"), &[("thread-id", "t")]).await;
    assert_eq!(again.event_types(), ["response.created", "response.completed"]);
    assert!(again.headers.get("content-encoding").is_none(), "replayed decoded, so not announced as gzip");
}

#[tokio::test]
async fn the_origin_s_query_is_kept_and_the_path_joins_its_path() {
    let origin = raw_origin(stream_answer("", format!("{CREATED}{COMPLETED}").as_bytes())).await;
    let proxy = proxy_to(&format!("{}?api-version=2025-01-01", origin.base_url), None).await;
    let reply = client()
        .post(format!("{}/responses?trace=1", proxy.base_url()))
        .header("thread-id", "t")
        .body(codex_body("hi").to_string());
    assert_eq!(read(reply).await.status, 200);
    let head = origin.heads.lock().unwrap()[0].clone();
    assert!(head.starts_with("POST /v1/responses?api-version=2025-01-01&trace=1 HTTP/1.1\r\n"), "{head}");
}

#[tokio::test]
async fn a_300_character_method_keeps_its_capture_under_a_bounded_name() {
    let dir = tempfile::tempdir().unwrap();
    let server = ParityServer::scripted([Step::message("m")]).captures_dir(dir.path()).start().await.unwrap();
    let method = reqwest::Method::from_bytes("X".repeat(300).as_bytes()).unwrap();
    let reply =
        read(client().request(method, format!("{}/responses", server.base_url())).header("thread-id", "t")).await;
    assert_eq!(reply.status, 404);
    server.settle(Duration::from_secs(5)).await;
    assert_eq!(server.capture_write_errors().0, 0);
    let recording = Recording::load(dir.path()).unwrap();
    assert_eq!(recording.len(), 1);
    let exchange = &recording.sessions[0].exchanges[0];
    assert_eq!(exchange.capture.request.method.len(), 300, "the method itself is kept whole");
    assert!(exchange.path.file_name().unwrap().len() < 100, "{}", exchange.path.display());
}
