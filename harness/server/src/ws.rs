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
//! the `GET` it was, so that the agent falls back to HTTPS. Replay mode replays WebSocket captures over WebSocket.
//! Proxy mode opens a WebSocket to the origin for each upgrade and joins the two frame by frame, recording each
//! `response.create` with the origin's frames; an origin's refusal reaches the agent as the origin's status.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Response};
use axum::response::IntoResponse;
use futures_util::{SinkExt, StreamExt};
use parity_capture::model::ProxyInfo;
use parity_capture::{Capture, CapturedRequest, HeaderList, Outcome, StreamEvent, Transport, WebSocketInfo};
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, watch};

use crate::app::{App, Source, header_list};
use crate::journal::Exchange;
use crate::plan::{Plan, PlanBody};
use crate::proxy::RESPONSE_HOP_HEADERS;
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
        Source::Proxy(_) => return proxy_upgrade(app, parts, headers, path, started, received_at).await,
    };
    if refuse {
        return refused(app, &parts, headers, path, started, received_at, None).await;
    }
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let connection = app.ws_connections.fetch_add(1, Ordering::Relaxed) + 1;
    let query = parts.uri.query().map(str::to_string);
    ws.on_upgrade(move |socket| serve(app, socket, Upgrade { headers, path, query, connection }))
}

/// How long the proxy waits for the origin to accept a WebSocket.
const ORIGIN_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Proxy mode: the origin is asked first. When it accepts, so does the server, with the origin's answer headers, and
/// the two connections are joined frame by frame; when it refuses, the agent gets its refusal (status, headers and
/// body), captured; when it cannot be reached, a 502.
async fn proxy_upgrade(
    app: Arc<App>,
    mut parts: Parts,
    headers: HeaderList,
    path: String,
    started: Instant,
    received_at: String,
) -> Response<Body> {
    let Source::Proxy(proxy) = &app.source else { unreachable!("proxy mode") };
    let (request, info) =
        match proxy.websocket_request(&path, parts.uri.query(), &parts.headers, app.journal.redactor()) {
            Ok(made) => made,
            Err(why) => {
                let plan = Plan::error(502, "parity_origin_unreachable", format!("parity proxy: {why}"));
                return refused(app, &parts, headers, path, started, received_at, Some((plan, None))).await;
            }
        };
    let connected = tokio::time::timeout(ORIGIN_CONNECT_TIMEOUT, tokio_tungstenite::connect_async(request)).await;
    let (origin, answer) = match connected {
        Ok(Ok(connected)) => connected,
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(refusal))) => {
            let status = refusal.status().as_u16();
            let answer_headers: Vec<(String, String)> = refusal
                .headers()
                .iter()
                .filter(|(n, _)| !RESPONSE_HOP_HEADERS.contains(&n.as_str()))
                .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            let bytes = refusal.body().clone().unwrap_or_default();
            let body = match serde_json::from_slice::<Value>(&bytes) {
                Ok(json) => PlanBody::Json(json),
                Err(_) => PlanBody::Text(String::from_utf8_lossy(&bytes).into_owned()),
            };
            let plan = Plan { status, headers: answer_headers, body };
            return refused(app, &parts, headers, path, started, received_at, Some((plan, Some(info)))).await;
        }
        Ok(Err(e)) => {
            let message = format!("parity proxy: the origin {} could not be reached over WebSocket: {e}", info.url);
            let plan = Plan::error(502, "parity_origin_unreachable", message);
            return refused(app, &parts, headers, path, started, received_at, Some((plan, Some(info)))).await;
        }
        Err(_) => {
            let message = format!(
                "parity proxy: the origin {} did not accept the WebSocket within {} s",
                info.url,
                ORIGIN_CONNECT_TIMEOUT.as_secs()
            );
            let plan = Plan::error(504, "parity_origin_unreachable", message);
            return refused(app, &parts, headers, path, started, received_at, Some((plan, Some(info)))).await;
        }
    };
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let origin_headers: Vec<(String, String)> = answer
        .headers()
        .iter()
        .filter(|(n, _)| {
            let n = n.as_str();
            !RESPONSE_HOP_HEADERS.contains(&n) && !n.starts_with("sec-websocket-") && n != "date"
        })
        .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let connection = app.ws_connections.fetch_add(1, Ordering::Relaxed) + 1;
    let query = parts.uri.query().map(str::to_string);
    let upgrade = Upgrade { headers, path, query, connection };
    let forwarded = origin_headers.clone();
    let mut response = ws.on_upgrade(move |socket| join(app, socket, origin, upgrade, info, forwarded));
    for (name, value) in &origin_headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name.as_str()), HeaderValue::from_bytes(value.as_bytes())) {
            response.headers_mut().append(n, v);
        }
    }
    response
}

/// Joins an agent's connection to the origin's: every frame goes on as it comes, each way; each `response.create`
/// message opens a capture, which records the origin's frames until the response ends (`response.completed`,
/// `response.failed`, `response.incomplete` or an `error` frame), or the connection does.
async fn join(
    app: Arc<App>,
    socket: WebSocket,
    origin: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    upgrade: Upgrade,
    info: ProxyInfo,
    origin_headers: Vec<(String, String)>,
) {
    use tokio_tungstenite::tungstenite::Message as OriginMessage;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame as OriginClose;
    let (mut agent_tx, mut agent_rx) = socket.split();
    let (mut origin_tx, mut origin_rx) = origin.split();
    let mut current: Option<Exchange> = None;
    let mut messages = 0u32;
    loop {
        tokio::select! {
            from_agent = agent_rx.next() => match from_agent {
                Some(Ok(Message::Text(text))) => {
                    let body = serde_json::from_str::<Value>(text.as_str()).ok();
                    if body.as_ref().and_then(|b| b.get("type")).and_then(Value::as_str) == Some("response.create") {
                        if let Some(open) = current.take() {
                            end(open, Outcome::Completed, Some("a new request came before this response ended".into()), None).await;
                        }
                        messages += 1;
                        let (exchange, _) = begin_message(
                            &app, &upgrade, messages, body.unwrap_or_default(), Instant::now(), now_text(),
                        );
                        exchange.update(|c| {
                            c.proxy = Some(info.clone());
                            c.response.status = 200;
                            let mut recorded: HeaderList = origin_headers.iter().cloned().collect();
                            app.journal.redactor().redact_headers(&mut recorded);
                            c.response.headers = recorded;
                        });
                        current = Some(exchange);
                    }
                    if origin_tx.send(OriginMessage::Text(text.as_str().into())).await.is_err() {
                        if let Some(open) = current.take() {
                            end(open, Outcome::Dropped, Some("the origin's connection ended".into()), None).await;
                        }
                        break;
                    }
                }
                Some(Ok(Message::Binary(bytes))) => {
                    if origin_tx.send(OriginMessage::Binary(bytes)).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let frame = frame.map(|f| OriginClose { code: f.code.into(), reason: f.reason.as_str().into() });
                    let _ = origin_tx.send(OriginMessage::Close(frame)).await;
                    if let Some(open) = current.take() {
                        end(open, Outcome::ClientClosed, None, None).await;
                    }
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    if let Some(open) = current.take() {
                        end(open, Outcome::ClientClosed, None, None).await;
                    }
                    break;
                }
            },
            from_origin = origin_rx.next() => match from_origin {
                Some(Ok(OriginMessage::Text(text))) => {
                    let t_ms = current.as_ref().map(Exchange::elapsed_ms);
                    // Forward first: recording must not delay the agent.
                    let delivered = agent_tx.send(Message::Text(text.as_str().into())).await.is_ok();
                    if let (Some(exchange), Some(t_ms)) = (&current, t_ms) {
                        let data = serde_json::from_str::<Value>(text.as_str())
                            .unwrap_or_else(|_| Value::String(text.as_str().to_string()));
                        let kind = data.get("type").and_then(Value::as_str).map(str::to_string);
                        let status = data.get("status").and_then(Value::as_u64);
                        exchange.update(|c| {
                            if c.response.headers_ms.is_none() {
                                c.response.headers_ms = Some(t_ms);
                            }
                            if kind.as_deref() == Some("error") && let Some(status) = status {
                                c.response.status = status as u16;
                            }
                            c.response.events.push(StreamEvent { t_ms, event: kind.clone(), data });
                        });
                        let ends = matches!(
                            kind.as_deref(),
                            Some("response.completed" | "response.failed" | "response.incomplete" | "error")
                        );
                        if ends && let Some(done) = current.take() {
                            end(done, Outcome::Completed, None, None).await;
                        }
                    }
                    if !delivered {
                        if let Some(open) = current.take() {
                            end(open, Outcome::ClientClosed, None, None).await;
                        }
                        break;
                    }
                }
                Some(Ok(OriginMessage::Binary(bytes))) => {
                    if agent_tx.send(Message::Binary(bytes)).await.is_err() {
                        break;
                    }
                }
                Some(Ok(OriginMessage::Close(frame))) => {
                    let close = frame.as_ref().map(|f| (u16::from(f.code), f.reason.to_string()));
                    let frame = frame.map(|f| CloseFrame { code: f.code.into(), reason: f.reason.as_str().into() });
                    let _ = agent_tx.send(Message::Close(frame)).await;
                    if let Some(open) = current.take() {
                        let why = "the origin closed the connection before the end of the response".to_string();
                        end(open, Outcome::Dropped, Some(why), close).await;
                    }
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    if let Some(open) = current.take() {
                        end(open, Outcome::Dropped, Some("the origin's connection broke".into()), None).await;
                    }
                    break;
                }
            },
        }
    }
}

/// Ends a proxied WebSocket exchange.
async fn end(exchange: Exchange, outcome: Outcome, error: Option<String>, close: Option<(u16, String)>) {
    let at = exchange.elapsed_ms();
    exchange.update(|c| {
        c.response.outcome = outcome;
        c.response.end_ms = Some(at);
        if error.is_some() {
            c.response.error = error;
        }
        if let (Some((code, reason)), Some(ws)) = (close, c.websocket.as_mut()) {
            ws.close_code = Some(code);
            ws.close_reason = Some(reason).filter(|r| !r.is_empty());
        }
    });
    exchange.finish().await;
}

fn now_text() -> String {
    jiff::Timestamp::now().round(jiff::Unit::Millisecond).unwrap_or_else(|_| jiff::Timestamp::now()).to_string()
}

/// A refused upgrade is a request of its own: captured as the `GET` it was, answered with an HTTP status.
async fn refused(
    app: Arc<App>,
    parts: &Parts,
    headers: HeaderList,
    path: String,
    started: Instant,
    received_at: String,
    proxied: Option<(Plan, Option<ProxyInfo>)>,
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
    let plan = match (&app.source, proxied) {
        (_, Some((plan, info))) => {
            exchange.update(|c| c.proxy = info);
            plan
        }
        (Source::Scripted(scripted), None) => exchange.update(|c| {
            let (plan, info) = scripted.answer(&arrival, &headers, &Value::Null, redactor, true);
            c.script = Some(info);
            plan
        }),
        (Source::Replay(replay), None) => match exchange.update(|c| replay.answer(&arrival, &c.request)) {
            Some((plan, info)) => {
                exchange.update(|c| c.replay = Some(info));
                plan
            }
            None => Plan::error(426, "parity_websocket_refused", "parity replay: the recording refused this upgrade"),
        },
        (Source::Proxy(_), None) => Plan::error(502, "parity_origin_unreachable", "parity proxy: no origin answer"),
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
    // The answer being sent: the next one waits for it, so that the frames of two responses never interleave (a
    // request that arrives meanwhile still counts at once, releasing holds that wait for the next request).
    let mut answering: Option<tokio::task::JoinHandle<()>> = None;
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
        // Other messages (such as an acknowledgement of a response) ask for no answer: said, not captured.
        let kind = body.get("type").and_then(Value::as_str);
        if kind != Some("response.create") {
            eprintln!(
                "parity: WebSocket connection {} sent a message of type {}, which parity does not answer",
                upgrade.connection,
                kind.unwrap_or("(none)")
            );
            continue;
        }
        messages += 1;
        let previous = answering.take();
        answering = Some(request(&app, &upgrade, messages, body, (started, received_at.to_string()), &tx, previous));
    }
    ended.send_replace(true);
    // Both halves dropped: the connection ends (without a close frame when the script asked for a drop).
    if let Ok(sink) = writer.await {
        drop(sink);
    }
    drop(stream);
}

/// One `response.create` message: captured and answered by the source at once; its frames go out, as they come,
/// once `previous` (the connection's answer before it) has ended.
fn request(
    app: &Arc<App>,
    upgrade: &Upgrade,
    message: u32,
    body: Value,
    (started, received_at): (Instant, String),
    tx: &mpsc::Sender<WsOut>,
    previous: Option<tokio::task::JoinHandle<()>>,
) -> tokio::task::JoinHandle<()> {
    let (exchange, arrival) = begin_message(app, upgrade, message, body, started, received_at);
    let redactor = app.journal.redactor();
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
    let (holds, tx) = (app.holds.clone(), tx.clone());
    tokio::spawn(async move {
        if let Some(previous) = previous {
            let _ = previous.await;
        }
        match plan.body {
            PlanBody::Stream(actions) => run_stream(actions, exchange, holds, Out::Ws(tx)).await,
            PlanBody::Json(document) => send_error(exchange, plan.status, &plan.headers, document, &tx).await,
            PlanBody::Text(text) => send_error(exchange, plan.status, &plan.headers, Value::String(text), &tx).await,
        }
    })
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

/// Registers a `response.create` message as a request of its session and opens its capture.
fn begin_message(
    app: &Arc<App>,
    upgrade: &Upgrade,
    message: u32,
    body: Value,
    started: Instant,
    received_at: String,
) -> (Exchange, crate::sessions::Arrival) {
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
    (Exchange::begin(&app.journal, capture, started), arrival)
}
