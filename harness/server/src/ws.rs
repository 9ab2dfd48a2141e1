//! The Responses WebSocket transport, on the same address and path as the HTTP one.
//!
//! An agent upgrades `GET .../responses` to a WebSocket and sends one JSON text message per model request,
//! `{"type": "response.create", ...the fields of the HTTP body...}`; the server answers each with the events an HTTP
//! stream would carry, one text frame per event. Several requests may follow one another on one connection.
//!
//! Each `response.create` message is a request like an HTTP one: it gets its place in its session (from the
//! upgrade request's headers), a script step or a recorded exchange, and a capture (method `POST`, transport
//! `websocket`, the upgrade's headers). Holds, delays and failures act frame by frame; a script can close the
//! connection with a code, drop it, or refuse the upgrade itself (`fail.refuse_upgrade`), which is then captured as
//! the `GET` it was, so that the agent falls back to HTTPS. Proxy mode refuses the upgrade (501) for now: its agent
//! falls back to HTTPS, which it proxies.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Response};
use axum::response::IntoResponse;
use futures_util::{SinkExt, StreamExt};
use parity_capture::{Capture, CapturedRequest, HeaderList, Outcome, StreamEvent, Transport, WebSocketInfo};
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, watch};

use crate::app::{App, Source, header_list};
use crate::journal::Exchange;
use crate::plan::{Plan, PlanBody};
use crate::respond::{Out, WsOut, respond, run_stream};

/// Whether a request asks to upgrade to a WebSocket.
pub(crate) fn is_upgrade(parts: &Parts) -> bool {
    parts.method == axum::http::Method::GET
        && parts
            .headers
            .get("upgrade")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case("websocket")))
}

/// Answers an upgrade request on the responses path: refused when the script or the recording says so (or in proxy
/// mode), else accepted, the connection then served until either side ends it.
pub(crate) async fn upgrade(app: Arc<App>, mut parts: Parts, started: Instant, received_at: String) -> Response<Body> {
    let headers = header_list(&parts.headers);
    let path = parts.uri.path().to_string();
    let (index, route_seq) = app.sessions.peek(&headers, "GET", &path);
    let refuse = match &app.source {
        Source::Scripted(scripted) => scripted.refuses_upgrade(index),
        Source::Replay(replay) => replay.refused_upgrade(index, route_seq, &path),
        Source::Proxy(_) => true,
    };
    if refuse {
        return refused(app, &parts, headers, path, started, received_at).await;
    }
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let connection = app.ws_connections.fetch_add(1, Ordering::Relaxed) + 1;
    let query = parts.uri.query().map(str::to_string);
    ws.on_upgrade(move |socket| serve(app, socket, Upgrade { headers, path, query, connection }))
}

/// A refused upgrade is a request of its own: captured as the `GET` it was, answered with an HTTP status.
async fn refused(
    app: Arc<App>,
    parts: &Parts,
    headers: HeaderList,
    path: String,
    started: Instant,
    received_at: String,
) -> Response<Body> {
    let arrival = app.sessions.arrive(&headers, "GET", &path);
    let redactor = app.journal.redactor();
    let mut recorded_headers = headers.clone();
    redactor.redact_headers(&mut recorded_headers);
    let request = CapturedRequest {
        method: "GET".into(),
        path: path.clone(),
        query: parts.uri.query().map(|q| redactor.redact_query(q)),
        headers: recorded_headers,
        body: Value::Null,
        raw_body: None,
    };
    let mut capture =
        Capture::new(arrival.session.clone(), arrival.seq, arrival.global, app.mode, received_at, request);
    capture.transport = Some(Transport::Websocket);
    capture.websocket = Some(WebSocketInfo { connection: 0, message: 0, close_code: None, close_reason: None });
    let exchange = Exchange::begin(&app.journal, capture, started);
    let plan = match &app.source {
        Source::Scripted(scripted) => exchange.update(|c| {
            let (plan, info) = scripted.answer(&arrival, &headers, &Value::Null, redactor, true);
            c.script = Some(info);
            plan
        }),
        Source::Replay(replay) => match exchange.update(|c| replay.answer(&arrival, &c.request)) {
            Some((plan, info)) => {
                exchange.update(|c| c.replay = Some(info));
                plan
            }
            None => Plan::error(426, "parity_websocket_refused", "parity replay: the recording refused this upgrade"),
        },
        Source::Proxy(_) => Plan::error(
            501,
            "parity_websocket_unsupported",
            "parity: proxy mode does not carry the Responses WebSocket transport yet; use HTTPS",
        ),
    };
    respond(plan, exchange, app.holds.clone()).await
}

/// What every request of a connection shares: the upgrade request.
struct Upgrade {
    headers: HeaderList,
    path: String,
    query: Option<String>,
    connection: u64,
}

/// Serves one connection: a reader takes the agent's messages, a writer sends the frames of every response.
async fn serve(app: Arc<App>, socket: WebSocket, upgrade: Upgrade) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<WsOut>(64);
    // Set when either side ends: the writer then drops its receiver, which every running stream sees as the agent
    // gone, and the reader stops reading.
    let (ended, _) = watch::channel(false);
    let mut writer_ended = ended.subscribe();
    let mut reader_ended = ended.subscribe();
    let writer_signal = ended.clone();
    let writer = tokio::spawn(async move {
        loop {
            let out = tokio::select! {
                out = rx.recv() => out,
                _ = writer_ended.wait_for(|e| *e) => None,
            };
            match out {
                Some(WsOut::Text(text)) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(WsOut::Close { code, reason }) => {
                    let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                    break;
                }
                Some(WsOut::Drop) | None => break,
            }
        }
        drop(rx);
        writer_signal.send_replace(true);
        sink
    });

    let mut messages = 0u32;
    loop {
        let message = tokio::select! {
            message = stream.next() => message,
            _ = reader_ended.wait_for(|e| *e) => None,
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            // Pings are answered by the socket itself; binary frames are not part of the protocol.
            Some(Ok(_)) => continue,
        };
        let started = Instant::now();
        let received_at =
            jiff::Timestamp::now().round(jiff::Unit::Millisecond).unwrap_or_else(|_| jiff::Timestamp::now());
        let body: Value = match serde_json::from_str(text.as_str()) {
            Ok(body) => body,
            Err(e) => {
                let frame =
                    error_frame(400, "parity_invalid_message", &format!("parity: the message is not JSON: {e}"));
                let _ = tx.send(WsOut::Text(frame.to_string())).await;
                continue;
            }
        };
        // Other messages (such as an acknowledgement of a response) ask for no answer.
        if body.get("type").and_then(Value::as_str) != Some("response.create") {
            continue;
        }
        messages += 1;
        request(&app, &upgrade, messages, body, started, received_at.to_string(), &tx).await;
    }
    ended.send_replace(true);
    // Both halves dropped: the connection ends (without a close frame when the script asked for a drop).
    if let Ok(sink) = writer.await {
        drop(sink);
    }
    drop(stream);
}

/// One `response.create` message: captured, answered by the source, its frames sent as they come.
async fn request(
    app: &Arc<App>,
    upgrade: &Upgrade,
    message: u32,
    body: Value,
    started: Instant,
    received_at: String,
    tx: &mpsc::Sender<WsOut>,
) {
    let arrival = app.sessions.arrive(&upgrade.headers, "POST", &upgrade.path);
    app.holds.on_request(arrival.session.index);
    let redactor = app.journal.redactor();
    let mut recorded_headers = upgrade.headers.clone();
    redactor.redact_headers(&mut recorded_headers);
    let request = CapturedRequest {
        method: "POST".into(),
        path: upgrade.path.clone(),
        query: upgrade.query.as_deref().map(|q| redactor.redact_query(q)),
        headers: recorded_headers,
        body,
        raw_body: None,
    };
    let mut capture =
        Capture::new(arrival.session.clone(), arrival.seq, arrival.global, app.mode, received_at, request);
    capture.transport = Some(Transport::Websocket);
    capture.websocket =
        Some(WebSocketInfo { connection: upgrade.connection, message, close_code: None, close_reason: None });
    let exchange = Exchange::begin(&app.journal, capture, started);
    let plan = match &app.source {
        Source::Scripted(scripted) => exchange.update(|c| {
            let (plan, info) = scripted.answer(&arrival, &upgrade.headers, &c.request.body, redactor, false);
            c.script = Some(info);
            plan
        }),
        Source::Replay(replay) => match exchange.update(|c| replay.answer(&arrival, &c.request)) {
            Some((plan, info)) => {
                exchange.update(|c| c.replay = Some(info));
                plan
            }
            None => {
                let message = format!(
                    "parity replay: the recording has no request {} of POST {} in session {}",
                    arrival.route_seq, upgrade.path, arrival.session.index
                );
                Plan::error(400, "parity_replay_exhausted", message)
            }
        },
        Source::Proxy(_) => Plan::error(501, "parity_websocket_unsupported", "parity: proxy mode refuses WebSockets"),
    };
    record_head(&exchange, &plan);
    match plan.body {
        PlanBody::Stream(actions) => {
            tokio::spawn(run_stream(actions, exchange, app.holds.clone(), Out::Ws(tx.clone())));
        }
        PlanBody::Json(document) => send_error(exchange, plan.status, &plan.headers, document, tx).await,
        PlanBody::Text(text) => send_error(exchange, plan.status, &plan.headers, Value::String(text), tx).await,
    }
}

/// Records the status and headers a plan answers with. Over WebSocket the agent saw the upgrade's 101; the capture
/// keeps the status the answer stands for (200 for a stream, the error's status for an error), as over HTTP.
fn record_head(exchange: &Exchange, plan: &Plan) {
    let mut recorded = HeaderList::new();
    for (name, value) in &plan.headers {
        if HeaderName::try_from(name.as_str()).is_ok() && HeaderValue::from_bytes(value.as_bytes()).is_ok() {
            recorded.push(name.to_ascii_lowercase(), value.clone());
        }
    }
    exchange.redactor().redact_headers(&mut recorded);
    let at = exchange.elapsed_ms();
    exchange.update(|c| {
        c.response.status = plan.status;
        c.response.headers = recorded;
        c.response.headers_ms = Some(at);
    });
}

/// An answer that is a document (an HTTP error) goes over WebSocket as one error frame, as the Responses
/// WebSocket transport wraps errors: `{"type": "error", "status": ..., "error": {...}, "headers": {...}}`.
async fn send_error(
    exchange: Exchange,
    status: u16,
    headers: &[(String, String)],
    document: Value,
    tx: &mpsc::Sender<WsOut>,
) {
    let error = match &document {
        Value::Object(o) if o.contains_key("error") => o["error"].clone(),
        other => json!({"message": other}),
    };
    let headers: Map<String, Value> = headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("content-type"))
        .map(|(n, v)| (n.to_ascii_lowercase(), Value::String(v.clone())))
        .collect();
    let mut frame = json!({"type": "error", "status": status, "error": error});
    if !headers.is_empty() {
        frame["headers"] = Value::Object(headers);
    }
    let t_ms = exchange.elapsed_ms();
    let sent = tx.send(WsOut::Text(frame.to_string())).await.is_ok();
    let end = exchange.elapsed_ms();
    exchange.update(|c| {
        c.response.body = Some(document);
        c.response.events.push(StreamEvent { t_ms, event: Some("error".into()), data: frame });
        c.response.outcome = if sent { Outcome::Completed } else { Outcome::ClientClosed };
        c.response.end_ms = Some(end);
    });
    exchange.finish().await;
}

fn error_frame(status: u16, code: &str, message: &str) -> Value {
    json!({"type": "error", "status": status, "error": {"type": "invalid_request_error", "code": code, "message": message}})
}
