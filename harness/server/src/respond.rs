//! Carrying out a plan: the response goes to the agent event by event, and each event is recorded with its time as
//! it leaves.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Response, StatusCode};
use bytes::Bytes;
use parity_capture::model::HoldRecord;
use parity_capture::{HeaderList, Outcome, StreamEvent, sse};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::holds::{Holds, ReleasedBy};
use crate::journal::Exchange;
use crate::plan::{Action, Plan, PlanBody};

pub(crate) type BodySender = mpsc::Sender<Result<Bytes, std::io::Error>>;

/// What a response stream sends on a WebSocket connection; the connection's writer carries it out.
#[derive(Debug)]
pub(crate) enum WsOut {
    /// One text frame: one stream event.
    Text(String),
    /// A close frame, then the end of the connection.
    Close { code: u16, reason: String },
    /// The end of the connection without a close frame.
    Drop,
}

/// Where a stream of events goes: an HTTP body (server-sent events) or a WebSocket connection (text frames).
pub(crate) enum Out {
    Http(BodySender),
    Ws(mpsc::Sender<WsOut>),
}

impl Out {
    /// Sends one event; false when the agent has gone.
    async fn event(&self, event: Option<&str>, data: &Value) -> bool {
        let text = match data {
            Value::String(raw) => raw.clone(),
            json => serde_json::to_string(json).expect("JSON serializes"),
        };
        match self {
            Out::Http(tx) => tx.send(Ok(Bytes::from(sse::encode(event, &text)))).await.is_ok(),
            Out::Ws(tx) => tx.send(WsOut::Text(text)).await.is_ok(),
        }
    }

    /// Resolves when the agent has gone.
    async fn closed(&self) {
        match self {
            Out::Http(tx) => tx.closed().await,
            Out::Ws(tx) => tx.closed().await,
        }
    }
}

/// A streaming body and the sender that feeds it. Sending an `Err` cuts the connection mid-body.
pub(crate) fn body_channel() -> (BodySender, Body) {
    let (tx, rx) = mpsc::channel(32);
    (tx, Body::from_stream(ReceiverStream::new(rx)))
}

/// Cuts the connection mid-body, after the chunks already sent have reached the wire: hyper drops what it has not
/// flushed when a body fails, and a cut must come after the events before it, not instead of them.
pub(crate) async fn cut_connection(tx: &BodySender, why: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    while tx.capacity() < tx.max_capacity() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let _ = tx.send(Err(std::io::Error::other(why.to_string()))).await;
}

/// Builds the response head from a status and headers, recording both.
pub(crate) fn response_head(
    exchange: &Exchange,
    status: u16,
    headers: &[(String, String)],
    body: Body,
) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut recorded = HeaderList::new();
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name.as_str()), HeaderValue::from_bytes(value.as_bytes())) {
            response.headers_mut().append(n, v);
            recorded.push(name.to_ascii_lowercase(), value.clone());
        }
    }
    exchange.redactor().redact_headers(&mut recorded);
    let at = exchange.elapsed_ms();
    exchange.update(|c| {
        c.response.status = status;
        c.response.headers = recorded;
        c.response.headers_ms = Some(at);
    });
    response
}

/// Answers with a plan. One-document answers are written to the journal before they are returned; streams are
/// written when their last event has gone, before the agent sees the stream end.
pub(crate) async fn respond(plan: Plan, exchange: Exchange, holds: Arc<Holds>) -> Response<Body> {
    match plan.body {
        PlanBody::Json(json) => {
            let bytes = serde_json::to_vec(&json).expect("JSON values serialize");
            let response = response_head(&exchange, plan.status, &plan.headers, Body::from(bytes));
            finish_document(exchange, json).await;
            response
        }
        PlanBody::Text(text) => {
            let response = response_head(&exchange, plan.status, &plan.headers, Body::from(text.clone()));
            finish_document(exchange, Value::String(text)).await;
            response
        }
        PlanBody::Stream(actions) => {
            let (tx, body) = body_channel();
            let response = response_head(&exchange, plan.status, &plan.headers, body);
            tokio::spawn(run_stream(actions, exchange, holds, Out::Http(tx)));
            response
        }
    }
}

async fn finish_document(exchange: Exchange, body: Value) {
    let end = exchange.elapsed_ms();
    exchange.update(|c| {
        c.response.body = Some(body);
        c.response.outcome = Outcome::Completed;
        c.response.end_ms = Some(end);
    });
    exchange.finish().await;
}

/// Carries out a stream's actions, event by event, recording each; the exchange is finished when it returns.
pub(crate) async fn run_stream(actions: Vec<Action>, exchange: Exchange, holds: Arc<Holds>, tx: Out) {
    let (session, seq) = exchange.update(|c| (c.session.index, c.seq));
    let mut outcome = Outcome::Completed;
    let mut error = None;
    let mut close = None;
    'actions: for action in actions {
        match action {
            Action::Send { event, data } => {
                let t_ms = exchange.elapsed_ms();
                if !tx.event(event.as_deref(), &data).await {
                    outcome = Outcome::ClientClosed;
                    break;
                }
                exchange.update(|c| c.response.events.push(StreamEvent { t_ms, event, data }));
            }
            Action::Sleep(duration) => {
                tokio::select! {
                    _ = tokio::time::sleep(duration) => {}
                    _ = tx.closed() => { outcome = Outcome::ClientClosed; break 'actions; }
                }
            }
            Action::Hold(point) => {
                let (id, released) = holds.enter(&point, session, seq);
                let held_at_ms = exchange.elapsed_ms();
                let record = HoldRecord {
                    name: point.name.clone(),
                    before: point.before.clone(),
                    held_at_ms,
                    released_at_ms: None,
                    released_by: None,
                };
                let index = exchange.update(|c| {
                    let script = c.script.get_or_insert_with(Default::default);
                    script.holds.push(record);
                    script.holds.len() - 1
                });
                exchange.checkpoint();
                let by = tokio::select! {
                    by = released => by.unwrap_or(ReleasedBy::Release),
                    _ = tokio::time::sleep(point.timeout) => ReleasedBy::Timeout,
                    _ = tx.closed() => ReleasedBy::ClientClosed,
                };
                holds.leave(id);
                let at = exchange.elapsed_ms();
                // Recorded whatever ended the hold, the agent leaving included: a hold record without its end
                // reads as a stream still held.
                exchange.update(|c| {
                    if let Some(h) = c.script.as_mut().and_then(|s| s.holds.get_mut(index)) {
                        h.released_at_ms = Some(at);
                        h.released_by = Some(by.as_str().to_string());
                    }
                });
                if by == ReleasedBy::ClientClosed {
                    outcome = Outcome::ClientClosed;
                    break 'actions;
                }
            }
            Action::Disconnect => {
                outcome = Outcome::Dropped;
                error = Some("connection cut before the end of the stream, as the script asked".to_string());
                break;
            }
            Action::Close { code, reason } => {
                outcome = Outcome::Dropped;
                error = Some(match &tx {
                    Out::Ws(_) => {
                        format!("connection closed with code {code} before the end of the stream, as the script asked")
                    }
                    Out::Http(_) => format!(
                        "connection cut before the end of the stream, as the script asked (a close with code {code} \
                         over WebSocket)"
                    ),
                });
                exchange.update(|c| {
                    if let Some(ws) = c.websocket.as_mut() {
                        ws.close_code = Some(code);
                        ws.close_reason = Some(reason.clone()).filter(|r| !r.is_empty());
                    }
                });
                close = Some((code, reason));
                break;
            }
        }
    }
    let end = exchange.elapsed_ms();
    exchange.update(|c| {
        c.response.outcome = outcome;
        c.response.end_ms = Some(end);
        if error.is_some() {
            c.response.error = error;
        }
    });
    exchange.finish().await;
    if outcome == Outcome::Dropped {
        match &tx {
            // An error instead of the end of the body makes hyper abort the connection: no terminating chunk.
            Out::Http(tx) => cut_connection(tx, "parity: connection cut by script").await,
            Out::Ws(tx) => {
                let last = match close {
                    Some((code, reason)) => WsOut::Close { code, reason },
                    None => WsOut::Drop,
                };
                let _ = tx.send(last).await;
            }
        }
    }
}
