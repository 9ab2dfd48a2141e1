//! Server benchmarks: `cargo bench -p parity-cli --bench server`.
//!
//! 1. Proxy overhead: time to first byte (the first stream event) of the same request, sent straight to a scripted
//!    origin and through `parity serve --proxy` in front of it, alternating, one at a time. Target: the proxy adds
//!    under 1 ms at the median.
//! 2. Proxy overhead over the Responses WebSocket: the same, with each request a `response.create` message on a
//!    WebSocket opened beforehand (to the origin, and through the proxy, which opens its own to the origin), timed
//!    from the message sent to the first event frame. Target: under 1 ms at the median.
//! 3. Throughput: `parity serve --script ... --captures DIR` answering 40 KB Codex-shaped request bodies from
//!    concurrent keep-alive connections; every exchange written to disk. Target: at least 2,000 requests/s, with
//!    the server's peak memory (VmHWM) under 50 MB.
//!
//! Every server is a separate `parity` process on loopback, as a user runs it; the load comes from this process.

mod support;

use std::ffi::OsStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use support::{Serve, print_load};

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

const PROXY_SAMPLES: usize = 1000;
const THROUGHPUT_WORKERS: usize = 32;
const SESSIONS_PER_WORKER: usize = 10;
const STEPS_PER_SESSION: usize = 50;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let body = Bytes::from(serde_json::to_vec(&codex_shaped_body(40 * 1024)).unwrap());
    println!("request body: {} bytes (Codex-shaped)", body.len());
    print_load();

    let script = dir.path().join("bench-script.json");
    let steps: Vec<Value> =
        (0..STEPS_PER_SESSION).map(|i| json!({"output": [{"message": format!("answer {i}")}]})).collect();
    std::fs::write(&script, json!({ "steps": steps }).to_string()).unwrap();

    // PARITY_BENCH=proxy, ws-proxy or throughput runs one part only.
    let only = std::env::var("PARITY_BENCH").unwrap_or_default();
    if only.is_empty() || only == "proxy" {
        runtime.block_on(proxy_overhead(&script, &body));
    }
    if only.is_empty() || only == "ws-proxy" {
        runtime.block_on(ws_proxy_overhead(&script, &body));
    }
    if only.is_empty() || only == "throughput" {
        runtime.block_on(throughput(&script, &body, dir.path()));
    }
}

/// A request body shaped like Codex's: long developer instructions, context messages, a prompt, tool schemas.
fn codex_shaped_body(size: usize) -> Value {
    let filler = "Keep changes small and focused; explain what you did and why. ".repeat(size * 6 / 10 / 62);
    let tools: Vec<Value> = (0..10)
        .map(|i| json!({"type": "function", "name": format!("tool_{i}"), "description": "Does one thing well. ".repeat(size / 10 / 20 * 3 / 10), "strict": false,
            "parameters": {"type": "object", "properties": {"cmd": {"type": "string", "description": "What to run."}}, "required": ["cmd"]}}))
        .collect();
    json!({
        "model": "gpt-5.5",
        "stream": true,
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": filler}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment_context>\n  <cwd>/tmp/ws</cwd>\n</environment_context>"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Summarize the repository."}]},
        ],
        "tools": tools,
        "tool_choice": "auto",
        "parallel_tool_calls": true,
        "store": false,
        "include": ["reasoning.encrypted_content"],
    })
}

fn client() -> HttpClient {
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(connector)
}

/// Sends one model request; returns the time to the first body chunk and reads the rest.
async fn request(client: &HttpClient, url: &str, session: &str, body: &Bytes) -> Duration {
    let request = hyper::Request::post(format!("{url}/v1/responses"))
        .header("content-type", "application/json")
        .header("thread-id", session)
        .body(Full::new(body.clone()))
        .unwrap();
    let sent = Instant::now();
    let mut response = client.request(request).await.expect("the server answers");
    assert_eq!(response.status(), 200, "session {session}");
    let body = response.body_mut();
    let first = loop {
        match body.frame().await {
            Some(Ok(frame)) if frame.data_ref().is_some_and(|d| !d.is_empty()) => {
                break sent.elapsed();
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("{e}"),
            None => panic!("empty body"),
        }
    };
    while let Some(frame) = body.frame().await {
        frame.expect("the body completes");
    }
    first
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

async fn proxy_overhead(script: &std::path::Path, body: &Bytes) {
    let origin = Serve::start([OsStr::new("--script"), script.as_os_str()]);
    let proxy = Serve::start(["--proxy".to_string(), format!("{}/v1", origin.url)]);
    let client = client();
    let (mut direct, mut proxied) = (Vec::new(), Vec::new());
    // Each request opens its own session, so the one-step script answers every one.
    for i in 0..(PROXY_SAMPLES + 100) {
        let d = request(&client, &origin.url, &format!("direct-{i}"), body).await;
        let p = request(&client, &proxy.url, &format!("proxied-{i}"), body).await;
        if i >= 100 {
            direct.push(d);
            proxied.push(p);
        }
    }
    report_overhead(&format!("proxy time to first byte, {PROXY_SAMPLES} requests each, alternating"), direct, proxied);
}

type WebSocket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a Responses WebSocket at `url` as session `session`.
async fn open_websocket(url: &str, session: &str) -> WebSocket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("{}/v1/responses", url.replacen("http://", "ws://", 1)).into_client_request().unwrap();
    request.headers_mut().insert("thread-id", session.parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request).await.expect("the upgrade is accepted");
    socket
}

/// Sends one `response.create` on `socket`; returns the time to its first event frame and reads the rest of the
/// response (to `response.completed`).
async fn ws_request(socket: &mut WebSocket, message: &str) -> Duration {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let sent = Instant::now();
    socket.send(Message::text(message.to_string())).await.expect("sent");
    let mut first = None;
    loop {
        match socket.next().await.expect("a frame").expect("a readable frame") {
            Message::Text(text) => {
                first.get_or_insert_with(|| sent.elapsed());
                if text.as_str().contains("\"type\":\"response.completed\"") {
                    return first.expect("set");
                }
            }
            Message::Close(frame) => panic!("closed before response.completed: {frame:?}"),
            _ => {}
        }
    }
}

async fn ws_proxy_overhead(script: &std::path::Path, body: &Bytes) {
    let origin = Serve::start([OsStr::new("--script"), script.as_os_str()]);
    let proxy = Serve::start(["--proxy".to_string(), format!("{}/v1", origin.url)]);
    let mut message: Value = serde_json::from_slice(body).unwrap();
    message.as_object_mut().unwrap().insert("type".into(), json!("response.create"));
    let message = message.to_string();
    let (mut direct, mut proxied) = (Vec::new(), Vec::new());
    // One connection (one session) each, taking the script's steps in turn; a fresh pair when they run out.
    let mut sockets = None;
    for i in 0..(PROXY_SAMPLES + 100) {
        if i % STEPS_PER_SESSION == 0 {
            sockets = Some((
                open_websocket(&origin.url, &format!("ws-direct-{i}")).await,
                open_websocket(&proxy.url, &format!("ws-proxied-{i}")).await,
            ));
        }
        let (to_origin, through_proxy) = sockets.as_mut().expect("opened");
        let d = ws_request(to_origin, &message).await;
        let p = ws_request(through_proxy, &message).await;
        if i >= 100 {
            direct.push(d);
            proxied.push(p);
        }
    }
    let title = format!(
        "proxy over the WebSocket, time to first frame, {PROXY_SAMPLES} response.create messages each, alternating"
    );
    report_overhead(&title, direct, proxied);
}

/// Prints the medians and p90s of both paths and judges the proxy's overhead at the median (target < 1 ms).
fn report_overhead(title: &str, mut direct: Vec<Duration>, mut proxied: Vec<Duration>) {
    let (d50, d90) = (percentile(&mut direct, 0.5), percentile(&mut direct, 0.9));
    let (p50, p90) = (percentile(&mut proxied, 0.5), percentile(&mut proxied, 0.9));
    let overhead = p50.saturating_sub(d50);
    println!("\n{title}:");
    println!("  direct to origin   median {:>8.3} ms   p90 {:>8.3} ms", ms(d50), ms(d90));
    println!("  through the proxy  median {:>8.3} ms   p90 {:>8.3} ms", ms(p50), ms(p90));
    println!(
        "  proxy overhead at the median: {:.3} ms (target < 1 ms): {}",
        ms(overhead),
        verdict(overhead < Duration::from_millis(1))
    );
}

async fn throughput(script: &std::path::Path, body: &Bytes, dir: &std::path::Path) {
    let captures = dir.join("captures");
    let server =
        Serve::start([OsStr::new("--script"), script.as_os_str(), OsStr::new("--captures"), captures.as_os_str()]);
    let client = client();
    // Warm up the connection pool.
    request(&client, &server.url, "warmup", body).await;
    let total = THROUGHPUT_WORKERS * SESSIONS_PER_WORKER * STEPS_PER_SESSION;
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..THROUGHPUT_WORKERS {
        let (client, url, body, done) = (client.clone(), server.url.clone(), body.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            for s in 0..SESSIONS_PER_WORKER {
                let session = format!("worker-{w}-session-{s}");
                for _ in 0..STEPS_PER_SESSION {
                    request(&client, &url, &session, &body).await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let elapsed = started.elapsed();
    let rate = total as f64 / elapsed.as_secs_f64();
    let peak_kb = peak_memory_kb(server.child.id());
    let written = count_files(&captures);
    println!("\nscripted mode with captures on, {total} requests from {THROUGHPUT_WORKERS} connections:");
    println!("  {rate:.0} requests/s ({:.2} s), {written} capture files written", elapsed.as_secs_f64());
    println!("  throughput target >= 2,000 requests/s: {}", verdict(rate >= 2000.0));
    println!(
        "  server peak memory (VmHWM) {:.1} MB (target < 50 MB): {}",
        peak_kb as f64 / 1024.0,
        verdict(peak_kb < 50 * 1024)
    );
    assert_eq!(written, total + 1, "every exchange was captured");
}

fn peak_memory_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn count_files(dir: &std::path::Path) -> usize {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "json"))
        .count()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT MET" }
}
