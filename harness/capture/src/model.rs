//! The types of one capture file.
//!
//! Field order in these structs is the key order on disk: stable, so that two recordings of the same session diff
//! line by line.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The versioned format name written into every capture file.
pub const FORMAT: &str = "parity.capture/v1";

/// One HTTP exchange between an agent and a parity server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capture {
    /// Always [`FORMAT`]; readers refuse files of another format.
    pub format: String,
    /// The session the request belongs to (see [`SessionRef`]).
    pub session: SessionRef,
    /// 1-based position of this request within its session.
    pub seq: u32,
    /// 1-based position of this request among all requests the server received.
    pub arrival: u64,
    /// Which kind of server answered.
    pub mode: Mode,
    /// Wall-clock time the request arrived, RFC 3339 in UTC. Volatile by nature; kept for people reading captures.
    pub received_at: String,
    /// How the request came: absent for HTTP (every capture written before WebSocket support), `websocket` for a
    /// `response.create` message of a Responses WebSocket connection (or the upgrade a script refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<Transport>,
    /// WebSocket requests: which connection and which message on it, and how the server closed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket: Option<WebSocketInfo>,
    pub request: CapturedRequest,
    pub response: CapturedResponse,
    /// Scripted mode: which step answered and how the request fared against its expectations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<ScriptInfo>,
    /// Replay mode: which recorded exchange answered, or why none could.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayInfo>,
    /// Proxy mode: where the request was forwarded (credentials stripped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxyInfo>,
    /// Scripted mode under chaos (`parity serve --chaos SEED[:RATE]`): the fault injected into this exchange, with
    /// the seed and rate that drew it (`{"seed": 42, "rate": 0.2, "fault": {"kind": "http", "status": 429, ...}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chaos: Option<serde_json::Value>,
}

impl Capture {
    /// A request as it arrived, in [`FORMAT`], with its response still pending and no mode-specific details yet.
    pub fn new(
        session: SessionRef,
        seq: u32,
        arrival: u64,
        mode: Mode,
        received_at: String,
        request: CapturedRequest,
    ) -> Capture {
        Capture {
            format: FORMAT.to_string(),
            session,
            seq,
            arrival,
            mode,
            received_at,
            transport: None,
            websocket: None,
            request,
            response: CapturedResponse::pending(),
            script: None,
            replay: None,
            proxy: None,
            chaos: None,
        }
    }
}

/// The longest time a capture may record, in milliseconds: a day. Nothing parity records lasts longer, and a replay
/// must never be asked to wait for ever.
pub const MAX_RECORDED_MS: f64 = 86_400_000.0;

impl Capture {
    /// Checks what the types alone cannot, as `(field, what is wrong)`: a status an HTTP response can have (or 0
    /// while pending), and times that are finite, not negative and at most [`MAX_RECORDED_MS`].
    pub fn check(&self) -> Result<(), (String, String)> {
        let response = &self.response;
        if response.status != 0 && !(100..=599).contains(&response.status) {
            let message = format!("{} is not an HTTP status (100 to 599, or 0 while pending)", response.status);
            return Err(("response.status".into(), message));
        }
        let times =
            [("response.headers_ms".to_string(), response.headers_ms), ("response.end_ms".into(), response.end_ms)];
        let events =
            response.events.iter().enumerate().map(|(i, e)| (format!("response.events[{i}].t_ms"), Some(e.t_ms)));
        for (field, ms) in times.into_iter().chain(events) {
            if let Some(ms) = ms
                && !(0.0..=MAX_RECORDED_MS).contains(&ms)
            {
                return Err((field, format!("{ms} is not a time in milliseconds from 0 to {MAX_RECORDED_MS} (a day)")));
            }
        }
        Ok(())
    }
}

/// Sessions are told apart by the agent's own headers (`thread-id`, then `session-id`, then `session_id`) and
/// numbered by first arrival, so that two recordings pair up by position even though the ids themselves differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRef {
    /// 1-based, in order of the session's first request.
    pub index: u32,
    /// The header value that identified the session, or `default` when the request carried none.
    pub key: String,
    /// The header the key was taken from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_header: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Scripted,
    Proxy,
    Replay,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Scripted => "scripted",
            Mode::Proxy => "proxy",
            Mode::Replay => "replay",
        })
    }
}

/// The transport of a request. A capture without one came over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    Http,
    /// The Responses WebSocket transport: the request is one `response.create` message (recorded with method
    /// `POST`, as the HTTP request it stands for), answered by one text frame per stream event. The request's
    /// headers are those of the connection's upgrade request.
    Websocket,
}

/// Where a WebSocket request stands on its connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketInfo {
    /// 1-based, among the WebSocket connections the server accepted (0 for an upgrade it refused).
    pub connection: u64,
    /// 1-based, among the `response.create` messages of the connection (0 for a refused upgrade).
    pub message: u32,
    /// The close frame the server sent after this response's frames, when it closed the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_reason: Option<String>,
}

impl Capture {
    /// Whether the request came over the Responses WebSocket transport.
    pub fn is_websocket(&self) -> bool {
        self.transport == Some(Transport::Websocket)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapturedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string without `?`, credentials redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Every header in the order received. Names are lowercase (HTTP/1 readers fold case); credentials redacted.
    pub headers: HeaderList,
    /// The parsed JSON body; `null` when the body is empty or is not JSON (then see `raw_body`).
    pub body: Value,
    /// The body as received when it could not be kept as JSON: not JSON, not UTF-8, or too large.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_body: Option<RawBody>,
}

/// A body kept as bytes because it could not be parsed, or was cut at the size limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBody {
    /// Why the body is kept raw, e.g. `not JSON: expected value at line 1 column 1`.
    pub reason: String,
    /// Size in bytes of the body as received (at least this much when `truncated`).
    pub size: u64,
    /// True when only the first bytes were kept.
    pub truncated: bool,
    /// The kept bytes, when they are UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The kept bytes, base64-encoded, when they are not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapturedResponse {
    /// HTTP status sent to the agent; 0 while the exchange is still pending.
    pub status: u16,
    pub headers: HeaderList,
    pub outcome: Outcome,
    /// What went wrong, in words, when the outcome or status says something did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For `text/event-stream` responses: each event as sent, with its time since the request arrived.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<StreamEvent>,
    /// For other responses: the body, as JSON when it parses, else as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Milliseconds from the request's arrival to the response headers being sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers_ms: Option<f64>,
    /// Milliseconds from the request's arrival to the end of the exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<f64>,
}

impl CapturedResponse {
    pub fn pending() -> Self {
        CapturedResponse {
            status: 0,
            headers: HeaderList::default(),
            outcome: Outcome::Pending,
            error: None,
            events: Vec::new(),
            body: None,
            headers_ms: None,
            end_ms: None,
        }
    }
}

/// How an exchange ended, as far as the transport is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Still in progress; a file with this outcome comes from a run that was killed mid-exchange.
    Pending,
    /// The whole response was sent, whatever its status.
    Completed,
    /// The connection was cut before the response ended: injected by a script, or the origin's stream broke.
    Dropped,
    /// The agent went away before the response ended.
    ClientClosed,
    /// Proxy mode: the origin could not be reached or answered garbage; the agent got a 502.
    OriginUnreachable,
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamEvent {
    /// Milliseconds since the request arrived.
    pub t_ms: f64,
    /// The `event:` field, when the stream had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The `data:` field, parsed as JSON when it is JSON, else the text.
    pub data: Value,
}

impl StreamEvent {
    /// The Responses event type: the `type` of the data, else the `event:` name.
    pub fn event_type(&self) -> Option<&str> {
        self.data.get("type").and_then(Value::as_str).or(self.event.as_deref())
    }
}

/// Scripted mode's account of a request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptInfo {
    /// 1-based step that answered; absent when the request came after the end of the script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
    /// Number of steps in the session's script.
    pub steps: u32,
    /// The step's name, when the script gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Why this step answered, when the script could choose (it has steps with `match`): `content` (its `match`
    /// held; the conditions are among `expectations` as `match.*`) or `order`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_by: Option<String>,
    /// Every expectation the step had, with its verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expectations: Vec<Expectation>,
    /// Holds met while streaming: which, when they began and how they were released.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<HoldRecord>,
    /// The request was a warm-up (`"generate": false`), answered with an empty response and no step.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub warmup: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// The expectation as written, e.g. `last_input_contains`.
    pub name: String,
    /// What was expected, e.g. the text.
    pub expected: String,
    pub ok: bool,
    /// What was found instead, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldRecord {
    pub name: String,
    /// The event the stream stopped before.
    pub before: String,
    pub held_at_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at_ms: Option<f64>,
    /// `release` (control API or library), `next_request`, `timeout`, or absent while still held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_by: Option<String>,
}

/// Replay mode's account of a request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayInfo {
    /// The recorded capture that answered, relative to the recording's root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Where the request differed from the recording, when it did; the agent then got a 400 saying so.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mismatches: Vec<Mismatch>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mismatch {
    /// JSON pointer into the request (`/body/input/3/type`, `/method`, ...).
    pub path: String,
    pub recorded: Value,
    pub received: Value,
}

/// Proxy mode's account of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyInfo {
    /// The origin URL the request went to, without credentials.
    pub url: String,
    /// True when the origin credential came from the server's environment instead of the agent's header.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub credential_replaced: bool,
}

/// HTTP headers in the order they were sent, duplicates kept. On disk: `[["name", "value"], ...]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HeaderList(pub Vec<(String, String)>);

impl HeaderList {
    pub fn new() -> Self {
        HeaderList(Vec::new())
    }

    /// The first value of a header, by case-insensitive name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every value of a header, by case-insensitive name, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for HeaderList {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        HeaderList(iter.into_iter().map(|(n, v)| (n.into(), v.into())).collect())
    }
}

impl Capture {
    /// The path of this capture relative to a recording's root, e.g. `session-01/0002-post-responses.json`.
    pub fn relative_path(&self) -> String {
        crate::store::relative_path(self.session.index, self.seq, &self.request.method, &self.request.path)
    }

    /// Milliseconds to the first stream event, if any.
    pub fn first_event_ms(&self) -> Option<f64> {
        self.response.events.first().map(|e| e.t_ms)
    }
}

/// Rounds a duration in milliseconds to microseconds, so captures do not carry meaningless digits.
pub fn round_ms(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}
