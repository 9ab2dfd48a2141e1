//! The built-in OpenAI provider's transport: the Responses API over a WebSocket, as upstream 0.169.0 speaks it
//! (recorded in the `openai-ws-*` scenarios), and what its requests carry beyond a custom provider's.
//!
//! - One connection per session, opened at its first request with the request's headers, `openai-beta:
//!   responses_websockets=2026-02-06` and an offer of `permessage-deflate` (upstream's handshake). Each request is a
//!   text frame `{"type": "response.create", ...the HTTP body...}`; each answer frame is a stream event.
//! - The session's first connection is warmed up: a `response.create` with `"generate": false` whose input is the
//!   first item alone (the model's instructions) and whose metadata names no turn (`request_kind: prewarm`), read to
//!   its `response.completed`. Its upgrade carries that metadata too.
//! - A request that repeats the connection's previous one but for its input, and whose input begins with the
//!   previous input and the items the server answered, sends only the new items, naming the previous response in
//!   `previous_response_id`.
//! - An upgrade refused with 426 Upgrade Required moves the session to HTTPS for good. A connection that breaks
//!   (a close frame or a cut before `response.completed`) fails the request as a retryable error; the retry opens a
//!   new connection, without a warm-up, and sends the whole request.
//! - Every input item carries `internal_chat_message_metadata_passthrough`: the turn it entered the conversation in
//!   and, for items the client made, when (Unix seconds); for messages, what each content part is.
//!
//! `permessage-deflate` is offered as upstream offers it, but not implemented (tungstenite has no compression): a
//! server that accepts it is connected to again without the offer.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

use crate::client::{ApiError, ResponseEvent, classify, describe, dispatch, retryable};

/// The beta the handshake names (upstream 0.169.0's `OpenAI-Beta`).
const BETA: &str = "responses_websockets=2026-02-06";
/// The member of an input item that carries its metadata.
const PASSTHROUGH: &str = "internal_chat_message_metadata_passthrough";
/// The compression upstream offers in its handshake.
const DEFLATE_OFFER: &str = "permessage-deflate; client_max_window_bits";

type Connection = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A session's WebSocket and the bookkeeping of its requests.
#[derive(Default)]
pub struct Transport {
    state: tokio::sync::Mutex<State>,
    items: std::sync::Mutex<Items>,
    /// The last request sent over the WebSocket failed (the turn loop keeps its first retry quiet, as upstream).
    pub(crate) failed: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct State {
    connection: Option<Connection>,
    /// The session speaks HTTPS from now on (an upgrade was refused).
    fallen_back: bool,
    /// The session's first connection was warmed up (later ones are not).
    warmed: bool,
    /// The connection's last completed request, for the next one to follow on from.
    last: Option<Last>,
}

struct Last {
    /// The request but for its input and per-request fields: what the next request must repeat.
    settings: Value,
    input: Vec<Value>,
    /// The items the server answered.
    output: Vec<Value>,
    response_id: String,
}

/// When each input item entered the conversation.
#[derive(Default)]
struct Items {
    seen: HashMap<String, (String, Option<f64>)>,
    /// Items the model made (they carry no creation time).
    from_model: HashSet<String>,
}

impl Items {
    /// An item's metadata: the turn it entered the conversation in and, for items the client made, when (the first
    /// time it is asked for, `now`); for messages, what each content part is.
    fn metadata(&mut self, item: &Value, turn_id: &str, now: Option<f64>) -> Value {
        let key = item_key(item);
        let now = now.filter(|_| !self.from_model.contains(&key));
        let (turn, created) = self.seen.entry(key).or_insert_with(|| (turn_id.to_string(), now)).clone();
        let mut meta = Map::new();
        meta.insert("turn_id".into(), json!(turn));
        if let Some(created) = created {
            meta.insert("create_time".into(), json!(created));
        }
        if item.get("type").and_then(Value::as_str) == Some("message") {
            let role = item.get("role").and_then(Value::as_str).unwrap_or_default();
            meta.insert("content_item_kinds".into(), json!(content_kinds(item, role)));
        }
        Value::Object(meta)
    }
}

fn unix_seconds() -> f64 {
    jiff::Timestamp::now().as_millisecond() as f64 / 1000.0
}

/// How a request over the WebSocket ended: answered (or failed), or not sent because the session now speaks HTTPS,
/// in which case the caller sends it so with the event callback handed back.
pub enum Outcome<F> {
    Done(Result<(), ApiError>),
    FellBack(F),
}

impl Transport {
    /// The request as the built-in provider sends it, over either transport: each input item with its metadata.
    pub fn decorate(&self, body: &Value) -> Value {
        let mut body = body.clone();
        let turn_id = body.pointer("/client_metadata/turn_id").and_then(Value::as_str).unwrap_or_default().to_string();
        let now = unix_seconds();
        let mut items = self.items.lock().expect("items");
        let Some(input) = body.get_mut("input").and_then(Value::as_array_mut) else { return body };
        for (i, item) in input.iter_mut().enumerate() {
            let kind = item.get("type").and_then(Value::as_str).unwrap_or_default();
            if matches!(kind, "compaction" | "compaction_trigger") {
                continue;
            }
            // The model's instructions open every conversation and belong to no turn.
            let meta = if i == 0 && item.get("role").and_then(Value::as_str) == Some("developer") {
                json!({"content_item_kinds": ["model.base_instructions"]})
            } else {
                items.metadata(item, &turn_id, Some(now))
            };
            if let Some(object) = item.as_object_mut() {
                object.insert(PASSTHROUGH.into(), meta);
            }
        }
        body
    }

    /// The metadata of an item entering the history in turn `turn_id`, as the session file keeps it for a later
    /// process to send (upstream keeps it there too): made now by the client (`client_made`), or not (the model's
    /// items, and a compaction's fresh context, carry no creation time).
    pub fn keep_metadata(&self, item: &mut Value, turn_id: &str, client_made: bool) {
        let now = client_made.then(unix_seconds);
        let meta = self.items.lock().expect("items").metadata(item, turn_id, now);
        if let Some(object) = item.as_object_mut() {
            object.insert(PASSTHROUGH.into(), meta);
        }
    }

    /// Takes back the metadata a session file kept with an item (see [`Transport::keep_metadata`]), leaving the
    /// item as the session holds it.
    pub fn restore(&self, item: &mut Value) {
        let Some(meta) = item.as_object_mut().and_then(|object| object.shift_remove(PASSTHROUGH)) else { return };
        let Some(turn) = meta.get("turn_id").and_then(Value::as_str) else { return };
        let created = meta.get("create_time").and_then(Value::as_f64);
        self.items.lock().expect("items").seen.insert(item_key(item), (turn.to_string(), created));
    }

    /// Notes an item the model made (from its `output_item.done`).
    pub fn saw_model_item(&self, item: &Value) {
        self.items.lock().expect("items").from_model.insert(item_key(item));
    }

    /// Sends one request over the session's WebSocket (connecting, and warming the first connection up, when there
    /// is none) and reads its events to `response.completed`.
    pub async fn stream<F: FnMut(ResponseEvent)>(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &Value,
        (connect_timeout, idle): (Duration, Duration),
        on_event: F,
    ) -> Outcome<F> {
        let outcome = self.send(url, headers, body, (connect_timeout, idle), on_event).await;
        let failed = matches!(outcome, Outcome::Done(Err(_)));
        self.failed.store(failed, std::sync::atomic::Ordering::Relaxed);
        outcome
    }

    async fn send<F: FnMut(ResponseEvent)>(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &Value,
        (connect_timeout, idle): (Duration, Duration),
        mut on_event: F,
    ) -> Outcome<F> {
        let mut state = self.state.lock().await;
        if state.fallen_back {
            return Outcome::FellBack(on_event);
        }
        if state.connection.is_none() {
            let warm_up = !state.warmed;
            let mut upgrade = upgrade_headers(headers);
            if warm_up {
                for (name, value) in &mut upgrade {
                    if name == "x-codex-turn-metadata" {
                        *value = prewarm_metadata(value, body);
                    }
                }
            }
            match connect(url, &upgrade, connect_timeout).await {
                Ok(connection) => state.connection = Some(connection),
                Err(Refused::UpgradeRequired) => {
                    state.fallen_back = true;
                    return Outcome::FellBack(on_event);
                }
                Err(Refused::Other(error)) => return Outcome::Done(Err(error)),
            }
            state.last = None;
            if warm_up {
                state.warmed = true;
                let warm = prewarm_body(body);
                if let Err(error) = exchange(&mut state, url, &warm, None, idle, &mut |_| {}).await {
                    return Outcome::Done(Err(error));
                }
            }
        }
        let follow_on = state.last.as_ref().and_then(|last| follow_on(last, body));
        Outcome::Done(exchange(&mut state, url, body, follow_on, idle, &mut on_event).await)
    }
}

/// Sends `body` (only its items from `follow_on.1` on, after the response `follow_on.0`, when given) and reads the
/// answer. A broken connection is dropped, and with it what the next request could follow on from.
async fn exchange(
    state: &mut State,
    url: &str,
    body: &Value,
    follow_on: Option<(String, usize)>,
    idle: Duration,
    on_event: &mut impl FnMut(ResponseEvent),
) -> Result<(), ApiError> {
    let message = response_create(body, follow_on.as_ref());
    let connection = state.connection.as_mut().expect("a connection");
    let result = async {
        connection
            .send(Message::text(message.to_string()))
            .await
            .map_err(|e| retryable(&format!("stream disconnected before completion: {}", describe(&e))))?;
        read_response(connection, url, idle, on_event).await
    }
    .await;
    match result {
        Ok((response_id, output)) => {
            let input = body.get("input").and_then(Value::as_array).cloned().unwrap_or_default();
            state.last = Some(Last { settings: settings(body), input, output, response_id });
            Ok(())
        }
        Err(error) => {
            state.connection = None;
            state.last = None;
            Err(error)
        }
    }
}

/// Reads frames to the response's end: its id and output items, or why it failed.
async fn read_response(
    connection: &mut Connection,
    url: &str,
    idle: Duration,
    on_event: &mut impl FnMut(ResponseEvent),
) -> Result<(String, Vec<Value>), ApiError> {
    let mut failure = None;
    let mut output = Vec::new();
    let mut response_id = String::new();
    loop {
        let frame = match tokio::time::timeout(idle, connection.next()).await {
            Err(_) => return Err(retryable("idle timeout waiting for websocket")),
            Ok(None) => None,
            Ok(Some(Err(e))) => {
                return Err(failure.unwrap_or_else(|| {
                    retryable(&format!("stream disconnected before completion: {}", describe(&e)))
                }));
            }
            Ok(Some(Ok(frame))) => Some(frame),
        };
        let text = match frame {
            Some(Message::Text(text)) => text,
            Some(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => continue,
            Some(Message::Binary(_)) => {
                return Err(retryable("stream disconnected before completion: unexpected binary websocket event"));
            }
            Some(Message::Close(_)) | None => {
                return Err(failure.unwrap_or_else(|| {
                    retryable(
                        "stream disconnected before completion: websocket closed by server before response.completed",
                    )
                }));
            }
        };
        let Ok(data) = serde_json::from_str::<Value>(text.as_str()) else { continue };
        if data.get("type").and_then(Value::as_str) == Some("error") {
            return Err(error_frame(&data, url));
        }
        if data.get("type").and_then(Value::as_str) == Some("response.output_item.done")
            && let Some(item) = data.get("item")
        {
            output.push(item.clone());
        }
        if data.get("type").and_then(Value::as_str) == Some("response.completed") {
            response_id = data.pointer("/response/id").and_then(Value::as_str).unwrap_or_default().to_string();
        }
        if let Some(done) = dispatch(&data, on_event, &mut failure) {
            return done.map(|()| (response_id, output));
        }
    }
}

/// An error frame (`{"type": "error", "status": 429, "error": {...}, "headers": {...}}`): the HTTP error it wraps.
fn error_frame(data: &Value, url: &str) -> ApiError {
    let status = data.get("status").and_then(Value::as_u64).and_then(|s| u16::try_from(s).ok()).unwrap_or(500);
    let status = reqwest::StatusCode::from_u16(status).unwrap_or(reqwest::StatusCode::INTERNAL_SERVER_ERROR);
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in data.get("headers").and_then(Value::as_object).into_iter().flatten() {
        if let (Ok(name), Some(Ok(value))) = (
            reqwest::header::HeaderName::from_bytes(name.as_bytes()),
            value.as_str().map(reqwest::header::HeaderValue::from_str),
        ) {
            headers.insert(name, value);
        }
    }
    let body = json!({"error": data.get("error").cloned().unwrap_or(Value::Null)}).to_string();
    classify(status, &headers, &body, url)
}

enum Refused {
    /// 426 Upgrade Required: the server speaks HTTPS only.
    UpgradeRequired,
    Other(ApiError),
}

/// Opens the WebSocket at `url` (`http` becoming `ws`, `https` `wss`) with `headers`.
async fn connect(url: &str, headers: &[(String, String)], timeout: Duration) -> Result<Connection, Refused> {
    let ws_url = if let Some(rest) = url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        url.to_string()
    };
    let mut offer_deflate = true;
    loop {
        let mut request = ws_url
            .as_str()
            .into_client_request()
            .map_err(|e| Refused::Other(ApiError::Fatal(format!("{url}: not a WebSocket URL: {e}"))))?;
        for (name, value) in headers {
            if name == "sec-websocket-extensions" && !offer_deflate {
                continue;
            }
            if let (Ok(name), Ok(value)) = (
                tungstenite::http::HeaderName::from_bytes(name.as_bytes()),
                tungstenite::http::HeaderValue::from_str(value),
            ) {
                request.headers_mut().append(name, value);
            }
        }
        let connected = tokio::time::timeout(timeout, tokio_tungstenite::connect_async(request)).await;
        let (connection, response) = match connected {
            Err(_) => return Err(Refused::Other(retryable("timed out connecting to websocket"))),
            Ok(Ok(done)) => done,
            Ok(Err(tungstenite::Error::Http(response))) => {
                let status = response.status();
                if status.as_u16() == 426 {
                    return Err(Refused::UpgradeRequired);
                }
                let body = response.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default().to_string();
                let status = reqwest::StatusCode::from_u16(status.as_u16()).unwrap_or(reqwest::StatusCode::BAD_GATEWAY);
                let mut headers = reqwest::header::HeaderMap::new();
                for (name, value) in response.headers() {
                    if let (Ok(name), Ok(value)) = (
                        reqwest::header::HeaderName::from_bytes(name.as_str().as_bytes()),
                        reqwest::header::HeaderValue::from_bytes(value.as_bytes()),
                    ) {
                        headers.insert(name, value);
                    }
                }
                return Err(Refused::Other(classify(status, &headers, &body, url)));
            }
            Ok(Err(e)) => {
                return Err(Refused::Other(retryable(&format!("error sending request: {}", describe(&e)))));
            }
        };
        let accepted_deflate = response
            .headers()
            .get("sec-websocket-extensions")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("permessage-deflate"));
        if accepted_deflate && offer_deflate {
            // Compressed frames could not be read: ask again without the offer.
            drop(connection);
            offer_deflate = false;
            continue;
        }
        return Ok(connection);
    }
}

/// The handshake's headers: the request's, less those of an HTTP body, with the beta and the compression offer.
fn upgrade_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    let mut upgrade: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "accept" | "content-type" | "content-length"))
        .cloned()
        .collect();
    upgrade.push(("openai-beta".into(), BETA.into()));
    upgrade.push(("sec-websocket-extensions".into(), DEFLATE_OFFER.into()));
    upgrade
}

/// Turn metadata (JSON text) made a warm-up's: no turn, `request_kind: prewarm`.
fn prewarm_metadata(text: &str, body: &Value) -> String {
    let Ok(Value::Object(mut metadata)) = serde_json::from_str::<Value>(text) else { return text.to_string() };
    if metadata.contains_key("turn_id") {
        metadata.insert("turn_id".into(), json!(""));
    }
    metadata.insert("request_kind".into(), json!("prewarm"));
    for key in ["root_turn_id", "turn_trigger", "turn_started_at_unix_ms"] {
        metadata.shift_remove(key);
    }
    // A compaction's metadata names no model (a turn's does): the warm-up before one is a turn's warm-up.
    if metadata.shift_remove("compaction").is_some() {
        if let Some(model) = body.get("model") {
            metadata.insert("model".into(), model.clone());
        }
        if let Some(effort) = body.pointer("/reasoning/effort") {
            metadata.insert("reasoning_effort".into(), effort.clone());
        }
    }
    Value::Object(metadata).to_string()
}

/// The warm-up for a session whose first request is `body`: its first input item only, `generate: false`, and
/// metadata that names no turn.
fn prewarm_body(body: &Value) -> Value {
    let mut fields = Map::new();
    for (key, value) in body.as_object().into_iter().flatten() {
        match key.as_str() {
            "input" => {
                let first: Vec<Value> = value.as_array().and_then(|a| a.first()).cloned().into_iter().collect();
                fields.insert(key.clone(), Value::Array(first));
            }
            "client_metadata" => {
                let mut metadata = value.as_object().cloned().unwrap_or_default();
                metadata.insert("turn_id".into(), json!(""));
                metadata.shift_remove("root_turn_id");
                if let Some(turn) = metadata.get_mut("x-codex-turn-metadata")
                    && let Some(text) = turn.as_str()
                {
                    *turn = json!(prewarm_metadata(text, body));
                }
                fields.insert("generate".into(), json!(false));
                fields.insert(key.clone(), Value::Object(metadata));
            }
            _ => drop(fields.insert(key.clone(), value.clone())),
        }
    }
    Value::Object(fields)
}

/// The frame for `body`: `type` first, the body's fields in their order, `previous_response_id` after `stream` and
/// only the new items when it follows on, and the time it is sent in its metadata.
fn response_create(body: &Value, follow_on: Option<&(String, usize)>) -> Value {
    let mut fields = Map::new();
    fields.insert("type".into(), json!("response.create"));
    for (key, value) in body.as_object().into_iter().flatten() {
        match key.as_str() {
            "input" => {
                let items = value.as_array().cloned().unwrap_or_default();
                let from = follow_on.map_or(0, |(_, from)| *from).min(items.len());
                fields.insert(key.clone(), Value::Array(items[from..].to_vec()));
            }
            "client_metadata" => {
                let mut metadata = value.as_object().cloned().unwrap_or_default();
                let now = jiff::Timestamp::now().as_millisecond();
                metadata.insert("x-codex-ws-stream-request-start-ms".into(), json!(now.to_string()));
                fields.insert(key.clone(), Value::Object(metadata));
            }
            _ => drop(fields.insert(key.clone(), value.clone())),
        }
        if key == "stream"
            && let Some((response_id, _)) = follow_on
        {
            fields.insert("previous_response_id".into(), json!(response_id));
        }
    }
    Value::Object(fields)
}

/// What a request must repeat of the previous one to follow on from it: everything but its input and the fields
/// that change with every request.
fn settings(body: &Value) -> Value {
    let mut fields = body.as_object().cloned().unwrap_or_default();
    for key in ["input", "client_metadata", "previous_response_id", "generate", "stream_options"] {
        fields.shift_remove(key);
    }
    Value::Object(fields)
}

/// Whether `body` follows on from `last` (the same settings; its input the previous input, then the items the
/// server answered, then more): the response to name and where the new items begin.
fn follow_on(last: &Last, body: &Value) -> Option<(String, usize)> {
    if last.response_id.is_empty() || settings(body) != last.settings {
        return None;
    }
    let input = body.get("input")?.as_array()?;
    let (previous, answered) = (last.input.len(), last.output.len());
    if input.len() <= previous + answered || input[..previous] != last.input[..] {
        return None;
    }
    // The answered items come back as the session keeps them (normalized): the same kind and id is the same item.
    let same = |sent: &Value, got: &Value| {
        sent.get("type") == got.get("type")
            && (sent.get("call_id").is_some() && sent.get("call_id") == got.get("call_id")
                || sent.get("id").is_some() && sent.get("id") == got.get("id"))
    };
    if !input[previous..previous + answered].iter().zip(&last.output).all(|(sent, got)| same(sent, got)) {
        return None;
    }
    Some((last.response_id.clone(), previous + answered))
}

/// What identifies an item across requests: its id, else its call id and type.
fn item_key(item: &Value) -> String {
    let kind = item.get("type").and_then(Value::as_str).unwrap_or_default();
    match (item.get("id").and_then(Value::as_str), item.get("call_id").and_then(Value::as_str)) {
        (Some(id), _) => id.to_string(),
        (None, Some(call)) => format!("{kind}:{call}"),
        (None, None) => format!("{kind}:{item}"),
    }
}

/// What each content part of a message is, by the context section it opens with, as upstream names them.
fn content_kinds(item: &Value, role: &str) -> Vec<&'static str> {
    let parts = item.get("content").and_then(Value::as_array).cloned().unwrap_or_default();
    parts
        .iter()
        .map(|part| {
            let text = part.get("text").and_then(Value::as_str).unwrap_or_default();
            match role {
                "assistant" => "unknown",
                _ if text.starts_with("<skills_instructions>") => "host_skills.instructions",
                _ if text.starts_with("<permissions instructions>") => "permissions.instructions",
                _ if text.starts_with("<tools>\nDeferred tool namespaces:") => "tools.deferred_namespaces",
                _ if text.starts_with("<environment_context>") => "environments.environment_context",
                "user" => "user.text",
                _ => "unknown",
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(input: Value) -> Value {
        json!({"model": "m", "stream": true, "input": input, "tools": [], "client_metadata": {"turn_id": "t1",
            "root_turn_id": "t1", "x-codex-turn-metadata": "{\"turn_id\":\"t1\",\"request_kind\":\"turn\",\"root_turn_id\":\"t1\",\"turn_trigger\":\"exec\",\"turn_started_at_unix_ms\":1,\"model\":\"m\"}"}})
    }

    #[test]
    fn the_warm_up_sends_the_first_item_and_names_no_turn() {
        let warm =
            prewarm_body(&body(json!([{"type": "message", "role": "developer"}, {"type": "message", "role": "user"}])));
        assert_eq!(warm["input"].as_array().unwrap().len(), 1);
        assert_eq!(warm["generate"], false);
        let keys: Vec<&String> = warm.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["model", "stream", "input", "tools", "generate", "client_metadata"]);
        assert_eq!(warm["client_metadata"]["turn_id"], "");
        assert!(warm["client_metadata"].get("root_turn_id").is_none());
        let turn: Value =
            serde_json::from_str(warm["client_metadata"]["x-codex-turn-metadata"].as_str().unwrap()).unwrap();
        assert_eq!(turn, json!({"turn_id": "", "request_kind": "prewarm", "model": "m"}));
    }

    #[test]
    fn a_request_follows_on_only_from_its_own_previous_input_and_answer() {
        let first = body(json!([{"type": "message", "id": "a"}, {"type": "message", "id": "b"}]));
        let last = Last {
            settings: settings(&first),
            input: first["input"].as_array().unwrap().clone(),
            output: vec![json!({"type": "function_call", "id": "fc_1", "call_id": "c1", "status": "completed"})],
            response_id: "resp_1".into(),
        };
        let next = body(json!([{"type": "message", "id": "a"}, {"type": "message", "id": "b"},
            {"type": "function_call", "call_id": "c1"}, {"type": "function_call_output", "call_id": "c1"}]));
        assert_eq!(follow_on(&last, &next), Some(("resp_1".to_string(), 3)));
        let frame = response_create(&next, Some(&("resp_1".to_string(), 3)));
        let keys: Vec<&String> = frame.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["type", "model", "stream", "previous_response_id", "input", "tools", "client_metadata"]);
        assert_eq!(frame["input"], json!([{"type": "function_call_output", "call_id": "c1"}]));
        assert!(frame["client_metadata"]["x-codex-ws-stream-request-start-ms"].as_str().is_some());

        let mut other_model = next.clone();
        other_model["model"] = json!("other");
        assert_eq!(follow_on(&last, &other_model), None, "other settings: the whole request");
        let rewritten = body(json!([{"type": "message", "id": "x"}, {"type": "message", "id": "b"},
            {"type": "function_call", "call_id": "c1"}, {"type": "function_call_output", "call_id": "c1"}]));
        assert_eq!(follow_on(&last, &rewritten), None, "another history: the whole request");
        assert_eq!(
            follow_on(
                &last,
                &body(json!([{"type": "message", "id": "a"}, {"type": "message", "id": "b"},
            {"type": "function_call", "call_id": "c1"}]))
            ),
            None,
            "nothing new to send"
        );
    }

    #[test]
    fn items_carry_their_turn_their_creation_and_their_kinds() {
        let transport = Transport::default();
        transport.saw_model_item(&json!({"type": "message", "id": "msg_model"}));
        let decorated = transport.decorate(&body(json!([
            {"type": "message", "role": "developer", "id": "base", "content": [{"type": "input_text", "text": "You are"}]},
            {"type": "message", "role": "developer", "id": "ctx", "content": [
                {"type": "input_text", "text": "<permissions instructions>\n..."},
                {"type": "input_text", "text": "<tools>\nDeferred tool namespaces:\n- x"}]},
            {"type": "message", "role": "user", "id": "u", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "message", "role": "assistant", "id": "msg_model", "content": [{"type": "output_text", "text": "Hel"}]},
            {"type": "function_call_output", "call_id": "c1", "output": "ok"},
            {"type": "compaction_trigger"},
        ])));
        let meta = |i: usize| decorated["input"][i]["internal_chat_message_metadata_passthrough"].clone();
        assert_eq!(meta(0), json!({"content_item_kinds": ["model.base_instructions"]}));
        assert_eq!(meta(1)["content_item_kinds"], json!(["permissions.instructions", "tools.deferred_namespaces"]));
        assert_eq!(meta(1)["turn_id"], "t1");
        assert!(meta(2)["create_time"].as_f64().unwrap() > 1.7e9);
        assert_eq!(meta(3), json!({"turn_id": "t1", "content_item_kinds": ["unknown"]}), "the model's: no time");
        let keys: Vec<String> = meta(4).as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["turn_id", "create_time"]);
        assert_eq!(meta(5), Value::Null);
        // A later request gives the same items the same metadata.
        let again = transport.decorate(&body(decorated["input"].clone()));
        assert_eq!(again["input"][2]["internal_chat_message_metadata_passthrough"], meta(2));
    }

    #[test]
    fn the_metadata_a_session_file_keeps_comes_back_in_a_later_process() {
        let first = Transport::default();
        let user =
            json!({"type": "message", "role": "user", "id": "u", "content": [{"type": "input_text", "text": "hi"}]});
        let answer = json!({"type": "message", "role": "assistant", "id": "a", "content": [{"type": "output_text", "text": "ok"}]});
        let context = json!({"type": "message", "role": "developer", "id": "ctx", "content": [{"type": "input_text", "text": "x"}]});
        first.saw_model_item(&answer);
        let kept = |item: &Value, client_made| {
            let mut item = item.clone();
            first.keep_metadata(&mut item, "t1", client_made);
            item
        };
        let mut saved = vec![kept(&user, true), kept(&answer, true), kept(&context, false)];
        assert!(saved[0]["internal_chat_message_metadata_passthrough"]["create_time"].is_f64());
        assert!(saved[1]["internal_chat_message_metadata_passthrough"].get("create_time").is_none(), "the model's");
        assert!(saved[2]["internal_chat_message_metadata_passthrough"].get("create_time").is_none(), "not made now");

        // Another process takes the items back as the session holds them, and sends them as the first one did.
        let later = Transport::default();
        for item in &mut saved {
            later.restore(item);
        }
        assert_eq!(saved, [user.clone(), answer.clone(), context.clone()]);
        let base = json!({"type": "message", "role": "developer", "id": "base", "content": []});
        let mut second_turn = body(json!([base, user, answer, context]));
        second_turn["client_metadata"]["turn_id"] = json!("t2");
        let sent = later.decorate(&second_turn);
        let before = first.decorate(&body(sent["input"].clone()));
        for i in 1..4 {
            let meta = &sent["input"][i]["internal_chat_message_metadata_passthrough"];
            assert_eq!(meta["turn_id"], "t1", "item {i} entered in the first turn");
            assert_eq!(meta, &before["input"][i]["internal_chat_message_metadata_passthrough"], "item {i}");
        }
    }

    #[test]
    fn a_warm_up_before_a_compaction_is_a_turn_warm_up() {
        let compaction = r#"{"turn_id":"t1","request_kind":"compaction","turn_trigger":"exec","analytics_enabled":true,"compaction":{"trigger":"auto"}}"#;
        let body = json!({"model": "gpt-5.5", "reasoning": {"effort": "medium"}});
        let warm: Value = serde_json::from_str(&prewarm_metadata(compaction, &body)).unwrap();
        assert_eq!(
            warm,
            json!({"turn_id": "", "request_kind": "prewarm", "analytics_enabled": true, "model": "gpt-5.5",
                "reasoning_effort": "medium"})
        );
        let keys: Vec<&String> = warm.as_object().unwrap().keys().collect();
        assert_eq!(keys.last().unwrap().as_str(), "reasoning_effort", "upstream's order: the model last");
        // A turn's metadata names its model already.
        let turn = r#"{"turn_id":"t1","request_kind":"turn","model":"m"}"#;
        assert_eq!(prewarm_metadata(turn, &body), r#"{"turn_id":"","request_kind":"prewarm","model":"m"}"#);
    }

    #[test]
    fn an_error_frame_is_the_http_error_it_wraps() {
        let frame = json!({"type": "error", "status": 400, "error": {"message": "bad"}, "headers": {}});
        assert!(matches!(error_frame(&frame, "u"), ApiError::Fatal(_)));
        let frame =
            json!({"type": "error", "status": 429, "error": {"message": "slow"}, "headers": {"retry-after": "2"}});
        assert!(
            matches!(error_frame(&frame, "u"), ApiError::Retryable { delay: Some(d), .. } if d == Duration::from_secs(2))
        );
    }
}
