//! The HTTP side: every request outside `/_parity` is agent traffic, captured and answered by the source; the
//! control API lives under `/_parity`.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Response};
use axum::routing::{any, get, post};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use parity_capture::{Capture, CapturedRequest, HeaderList, Mode, RawBody};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::holds::Holds;
use crate::journal::{Exchange, Journal, ResetReport, SUMMARIES_KEPT};
use crate::plan::Plan;
use crate::proxy::Proxy;
use crate::replay::Replay;
use crate::respond::respond;
use crate::script::{Script, ScriptError, Syntax};
use crate::scripted::Scripted;
use crate::sessions::Sessions;

/// Model ids listed by `GET /v1/models` when nothing else says which.
pub const DEFAULT_MODELS: &[&str] = &["gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-5.3-codex", "gpt-5.2"];
/// How much of a body that cannot be kept as JSON is kept raw.
const RAW_BODY_KEEP: usize = 1 << 20;

pub(crate) enum Source {
    Scripted(Scripted),
    Proxy(Proxy),
    Replay(Replay),
}

pub(crate) struct App {
    pub source: Source,
    pub mode: Mode,
    pub sessions: Sessions,
    pub holds: Arc<Holds>,
    pub journal: Arc<Journal>,
    pub max_body_bytes: usize,
    pub started: Instant,
    /// WebSocket connections accepted so far.
    pub ws_connections: std::sync::atomic::AtomicU64,
    /// Seeded faults for scripted model requests over HTTP.
    pub chaos: Option<crate::chaos::Chaos>,
}

/// Every route of the control API, as the 404 of an unknown control path lists them: method, path, what it does.
pub const CONTROL_ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/_parity/health", "status, mode, counts of sessions, requests, open exchanges and holds"),
    ("GET", "/_parity/captures", "a summary of each exchange so far"),
    ("GET", "/_parity/holds", "the streams held now"),
    ("POST", "/_parity/holds/release", "releases every hold (or those named by ?name=N)"),
    ("POST", "/_parity/holds/{name}/release", "releases the holds of that name or id"),
    ("GET", "/_parity/captures/{n}", "capture n (by arrival number), whole, redacted as on disk"),
    ("POST", "/_parity/reset", "forgets every capture of this run and restarts sessions and the script"),
    ("POST", "/_parity/script", "replaces the script (JSON or TOML body; ?format=json|toml) and restarts it"),
];

pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/_parity/health", get(health))
        .route("/_parity/captures", get(captures))
        .route("/_parity/holds", get(holds))
        .route("/_parity/holds/release", post(release))
        .route("/_parity/holds/{name}/release", post(release_named))
        .route("/_parity/captures/{n}", get(capture_by_number))
        .route("/_parity/reset", post(reset))
        .route("/_parity/script", post(replace_script))
        // A mistyped control path must not reach the fallback: it would be taken for agent traffic and captured.
        .route("/_parity", any(unknown_control))
        .route("/_parity/", any(unknown_control))
        .route("/_parity/{*rest}", any(unknown_control))
        .method_not_allowed_fallback(wrong_method)
        .fallback(agent_request)
        .with_state(app)
}

/// Why a script could not replace the running one.
#[derive(Debug, thiserror::Error)]
pub enum SetScriptError {
    #[error(transparent)]
    Invalid(#[from] ScriptError),
    #[error("this server is in {0} mode; only a scripted server takes a script")]
    NotScripted(String),
}

/// Why a capture could not be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct NoCapture {
    /// 404 when there is no such capture, 409 while it is still open.
    pub status: u16,
    pub message: String,
}

impl App {
    /// Forgets this run: captures (memory, and the files this server wrote), sessions and their numbering, the
    /// script's positions, and any hold (released, so that its stream ends).
    pub fn reset(&self) -> ResetReport {
        let mut report = self.journal.reset();
        self.sessions.reset();
        if let Source::Scripted(scripted) = &self.source {
            scripted.restart();
        }
        report.holds_released = self.holds.release_every();
        report
    }

    /// Checks a script and puts it in place of the running one; every session starts again at its first step.
    pub fn set_script(&self, script: Script) -> Result<(), SetScriptError> {
        let Source::Scripted(scripted) = &self.source else {
            return Err(SetScriptError::NotScripted(self.mode_name()));
        };
        script.validate()?;
        scripted.replace(script);
        Ok(())
    }

    fn mode_name(&self) -> String {
        serde_json::to_value(self.mode).ok().and_then(|m| m.as_str().map(str::to_string)).unwrap_or_default()
    }

    /// Capture `n` (by arrival number) as it stands: from memory, else from the captures directory.
    pub async fn capture(&self, n: u64) -> Result<Capture, NoCapture> {
        if let Some(capture) = self.journal.capture(n) {
            return Ok(capture);
        }
        let missing = |status: u16, message: String| NoCapture { status, message };
        let total = self.journal.total() as u64;
        let Some(summary) = self.journal.summary(n) else {
            let range = match total {
                0 => "this run has no captures yet".to_string(),
                1 => "this run has capture 1 only".to_string(),
                total => format!("this run has captures 1 to {total}"),
            };
            let message = if (1..=total).contains(&n) {
                format!("no capture {n} is kept: the control API keeps the most recent {SUMMARIES_KEPT}; {range}")
            } else {
                format!("no capture {n}: {range}")
            };
            return Err(missing(404, message));
        };
        if let (Some(file), Some(dir)) = (&summary.file, self.journal.captures_dir()) {
            let path = dir.join(file);
            let loaded = tokio::task::spawn_blocking(move || parity_capture::store::load_capture(&path)).await;
            if let Ok(Ok(capture)) = loaded {
                return Ok(capture);
            }
        }
        if summary.outcome == parity_capture::Outcome::Pending {
            return Err(missing(409, format!("capture {n} has not ended yet; ask again once it has")));
        }
        Err(missing(404, format!("capture {n} was not kept: this server keeps captures neither in memory nor on disk")))
    }
}

fn control_api() -> Value {
    let routes: Vec<Value> = CONTROL_ROUTES
        .iter()
        .map(|(method, path, what)| json!({"method": method, "path": path, "description": what}))
        .collect();
    Value::Array(routes)
}

fn control_error(status: u16, message: String) -> Response<Body> {
    let body = json!({"error": {"code": "parity_control_unknown", "message": message}, "routes": control_api()});
    json_response(status, &body)
}

fn json_response(status: u16, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = axum::http::StatusCode::from_u16(status).expect("valid status");
    response.headers_mut().insert("content-type", "application/json".parse().expect("valid header"));
    response
}

async fn unknown_control(method: axum::http::Method, uri: axum::http::Uri) -> Response<Body> {
    let message = format!("parity: {method} {} is not part of the control API; its routes are listed here", uri.path());
    control_error(404, message)
}

async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> Response<Body> {
    let path = uri.path();
    let message = if path.starts_with("/_parity") {
        format!("parity: the control API does not answer {method} {path}; its routes are listed here")
    } else {
        format!("parity: {method} is not allowed on {path}")
    };
    control_error(405, message)
}

async fn health(State(app): State<Arc<App>>) -> axum::Json<Value> {
    let (write_errors, last_write_error) = app.journal.write_errors();
    axum::Json(json!({
        "status": "ok",
        "mode": app.mode,
        "uptime_ms": app.started.elapsed().as_millis() as u64,
        "sessions": app.sessions.count(),
        "requests": app.journal.total(),
        "in_flight": app.journal.in_flight(),
        "holds": app.holds.list().len(),
        "captures_dir": app.journal.captures_dir(),
        "capture_write_errors": write_errors,
        "last_capture_write_error": last_write_error,
    }))
}

async fn captures(State(app): State<Arc<App>>) -> axum::Json<Value> {
    let captures = app.journal.summaries();
    let omitted = app.journal.total() - captures.len();
    axum::Json(json!({ "captures": captures, "omitted_older": omitted }))
}

async fn capture_by_number(State(app): State<Arc<App>>, Path(n): Path<String>) -> Response<Body> {
    let Ok(number) = n.parse::<u64>() else {
        return control_error(
            404,
            format!("parity: \"{n}\" is not a capture number (GET /_parity/captures/<n>, n from 1)"),
        );
    };
    match app.capture(number).await {
        Ok(capture) => {
            // The very text a capture file holds: same keys, same order, same redaction.
            let text = serde_json::to_value(&capture)
                .map(|v| parity_capture::pretty::value_to_pretty_string(&v))
                .expect("captures serialize");
            let mut response = json_response(200, &Value::Null);
            *response.body_mut() = Body::from(text);
            response
        }
        Err(e) => json_response(
            e.status,
            &json!({"error": {"code": "parity_no_capture", "message": format!("parity: {}", e.message)}}),
        ),
    }
}

async fn reset(State(app): State<Arc<App>>) -> Response<Body> {
    // Removing this run's files is blocking work.
    let report = tokio::task::spawn_blocking(move || app.reset()).await.expect("reset does not panic");
    json_response(200, &json!({ "reset": true, "cleared": report }))
}

#[derive(Deserialize)]
struct ScriptQuery {
    format: Option<String>,
}

async fn replace_script(State(app): State<Arc<App>>, Query(q): Query<ScriptQuery>, request: Request) -> Response<Body> {
    const ORIGIN: &str = "POST /_parity/script";
    if !matches!(app.source, Source::Scripted(_)) {
        // Said before anything is parsed: no script, however good, would be taken.
        let e = SetScriptError::NotScripted(app.mode_name());
        return json_response(
            409,
            &json!({"error": {"code": "parity_not_scripted", "message": format!("parity: {e}")}}),
        );
    }
    let invalid =
        |code: &str, message: String| json_response(400, &json!({"error": {"code": code, "message": message}}));
    let content_type =
        request.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
    let syntax = match q.format.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("toml") => Syntax::Toml,
        Some("json") => Syntax::Json,
        Some(other) => {
            return invalid("parity_script_invalid", format!("{ORIGIN}: ?format= is json or toml, not \"{other}\""));
        }
        None if content_type.contains("toml") => Syntax::Toml,
        None => Syntax::Json,
    };
    let read = read_body(request.into_body(), app.max_body_bytes).await;
    if read.truncated {
        let message = format!("{ORIGIN}: the script is larger than the limit of {} bytes", app.max_body_bytes);
        return invalid("parity_script_invalid", message);
    }
    let Ok(text) = std::str::from_utf8(&read.bytes) else {
        return invalid("parity_script_invalid", format!("{ORIGIN}: the script is not UTF-8 text"));
    };
    let script = match Script::parse(text, syntax, ORIGIN) {
        Ok(script) => script,
        Err(e) => return invalid("parity_script_invalid", e.to_string()),
    };
    let (steps, sessions) = (script.steps.len(), script.sessions.len());
    match app.set_script(script) {
        Ok(()) => json_response(200, &json!({"script": "replaced", "steps": steps, "sessions": sessions})),
        Err(e @ SetScriptError::NotScripted(_)) => {
            json_response(409, &json!({"error": {"code": "parity_not_scripted", "message": format!("parity: {e}")}}))
        }
        Err(e) => invalid("parity_script_invalid", e.to_string()),
    }
}

async fn holds(State(app): State<Arc<App>>) -> axum::Json<Value> {
    axum::Json(json!({ "holds": app.holds.list() }))
}

#[derive(Deserialize)]
struct ReleaseQuery {
    name: Option<String>,
}

async fn release(State(app): State<Arc<App>>, Query(q): Query<ReleaseQuery>) -> axum::Json<Value> {
    axum::Json(json!({ "released": app.holds.release(q.name.as_deref()) }))
}

async fn release_named(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response<Body> {
    let released = app.holds.release(Some(&name));
    let status = if released == 0 { 404 } else { 200 };
    let body = if released == 0 {
        json!({"released": 0, "error": format!("no hold named or numbered \"{name}\" is in effect")})
    } else {
        json!({"released": released})
    };
    json_response(status, &body)
}

/// The list answered to `GET /v1/models`.
pub(crate) fn models_list(models: &[String]) -> Value {
    let data: Vec<Value> = models
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 1_767_225_600u64, "owned_by": "openai"}))
        .collect();
    json!({"object": "list", "data": data})
}

pub(crate) fn default_models() -> Vec<String> {
    DEFAULT_MODELS.iter().map(|m| m.to_string()).collect()
}

pub(crate) fn is_route(path: &str, name: &str) -> bool {
    path.strip_suffix(name).is_some_and(|rest| rest.is_empty() || rest == "/v1")
}

async fn agent_request(State(app): State<Arc<App>>, request: Request) -> Response<Body> {
    let started = Instant::now();
    let received_at = jiff::Timestamp::now().round(jiff::Unit::Millisecond).unwrap_or_else(|_| jiff::Timestamp::now());
    let (parts, body) = request.into_parts();
    if crate::ws::is_upgrade(&parts) && is_route(parts.uri.path(), "/responses") {
        return crate::ws::upgrade(app, parts, started, received_at.to_string()).await;
    }
    let headers = header_list(&parts.headers);
    let (method, path) = (parts.method.as_str().to_string(), parts.uri.path().to_string());
    let arrival = app.sessions.arrive(&headers, &method, &path);
    app.holds.on_request(arrival.session.index);

    let read = read_body(body, app.max_body_bytes).await;
    let encoding = headers.get("content-encoding").map(str::to_ascii_lowercase);
    let (json_body, raw_body, problem) = interpret_body(&read, encoding.as_deref(), &parts.method, app.max_body_bytes);
    let redactor = app.journal.redactor();
    let mut recorded_headers = headers.clone();
    redactor.redact_headers(&mut recorded_headers);
    let request = CapturedRequest {
        method: method.clone(),
        path: path.clone(),
        query: parts.uri.query().map(|q| redactor.redact_query(q)),
        headers: recorded_headers,
        body: json_body,
        raw_body,
    };
    let capture =
        Capture::new(arrival.session.clone(), arrival.seq, arrival.global, app.mode, received_at.to_string(), request);
    let exchange = Exchange::begin(&app.journal, capture, started);
    if let Some(problem) = problem {
        let message = format!("parity: the body of {method} {path} {problem}");
        return respond(Plan::error(400, "parity_invalid_body", message), exchange, app.holds.clone()).await;
    }

    let plan = match &app.source {
        Source::Proxy(proxy) => {
            return proxy
                .forward(parts.method.clone(), &path, parts.uri.query(), &parts.headers, read.bytes, exchange)
                .await;
        }
        Source::Scripted(scripted) if method == "POST" && is_route(&path, "/responses") => exchange.update(|c| {
            let warmup = c.request.body.get("generate") == Some(&serde_json::Value::Bool(false));
            let fault = app.chaos.filter(|_| !warmup).and_then(|chaos| Some((chaos, chaos.draw(arrival.global)?)));
            if let Some((chaos, fault)) = &fault {
                c.chaos = Some(serde_json::json!({"seed": chaos.seed, "rate": chaos.rate, "fault": fault}));
                // A fault that replaces the answer takes no step: the agent's retry gets the one this would have.
                let model = c.request.body.get("model").and_then(serde_json::Value::as_str).unwrap_or("unknown");
                if let Some(plan) = fault.plan(&format!("resp_chaos_{}", arrival.global), model) {
                    return plan;
                }
            }
            let (plan, info) = scripted.answer(&arrival, &headers, &c.request.body, redactor, false);
            c.script = Some(info);
            match &fault {
                Some((_, fault)) => fault.shape(plan),
                None => plan,
            }
        }),
        Source::Scripted(scripted) if method == "GET" && is_route(&path, "/models") => {
            let models = scripted.models().unwrap_or_else(default_models);
            Plan::json(200, models_list(&models))
        }
        Source::Replay(replay) => {
            let answer = exchange.update(|c| replay.answer(&arrival, &c.request));
            match answer {
                Some((plan, info)) => {
                    exchange.update(|c| c.replay = Some(info));
                    plan
                }
                None if method == "GET"
                    && is_route(&path, "/models")
                    && !replay.has_route(&arrival, &method, &path) =>
                {
                    Plan::json(200, models_list(&default_models()))
                }
                None => {
                    let message = format!(
                        "parity replay: the recording has no request {} of {method} {path} in session {}",
                        arrival.route_seq, arrival.session.index
                    );
                    Plan::error(400, "parity_replay_exhausted", message)
                }
            }
        }
        // A token refresh of an agent signed in with ChatGPT (its refresh URL pointed here): new fake tokens.
        Source::Scripted(_) if method == "POST" && path.ends_with("/oauth/token") => {
            Plan::json(200, crate::oauth::refreshed())
        }
        Source::Scripted(_) => {
            let message = format!(
                "parity: scripted mode answers POST /v1/responses, GET /v1/models and POST /oauth/token, not {method} \
                 {path}"
            );
            Plan::error(404, "parity_no_route", message)
        }
    };
    respond(plan, exchange, app.holds.clone()).await
}

/// Headers in the order received, names lowercase, values lossily decoded.
pub(crate) fn header_list(headers: &HeaderMap) -> HeaderList {
    headers.iter().map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect()
}

pub(crate) struct BodyRead {
    pub bytes: Bytes,
    /// Bytes received (at least this many when `truncated`).
    pub size: u64,
    pub truncated: bool,
    pub error: Option<String>,
}

/// Reads a body up to `limit` bytes; past that it stops reading and says so.
async fn read_body(body: Body, limit: usize) -> BodyRead {
    let mut stream = body.into_data_stream();
    let mut buffer = BytesMut::new();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                size += chunk.len() as u64;
                if size > limit as u64 {
                    let room = limit.saturating_sub(buffer.len());
                    buffer.extend_from_slice(&chunk[..room.min(chunk.len())]);
                    return BodyRead { bytes: buffer.freeze(), size, truncated: true, error: None };
                }
                buffer.extend_from_slice(&chunk);
            }
            Err(e) => {
                return BodyRead { bytes: buffer.freeze(), size, truncated: true, error: Some(e.to_string()) };
            }
        }
    }
    BodyRead { bytes: buffer.freeze(), size, truncated: false, error: None }
}

/// The body as JSON when it is JSON (after undoing a `content-encoding` Codex may use: zstd, gzip or deflate);
/// otherwise kept raw, with what is wrong with it when a JSON body was due.
fn interpret_body(
    read: &BodyRead,
    encoding: Option<&str>,
    method: &axum::http::Method,
    limit: usize,
) -> (Value, Option<RawBody>, Option<String>) {
    let raw = |reason: String| {
        let kept = &read.bytes[..read.bytes.len().min(RAW_BODY_KEEP)];
        let (text, base64) = match std::str::from_utf8(kept) {
            Ok(t) => (Some(t.to_string()), None),
            Err(_) => (None, Some(base64_encode(kept))),
        };
        RawBody { reason, size: read.size, truncated: read.truncated || kept.len() < read.bytes.len(), text, base64 }
    };
    if let Some(error) = &read.error {
        let reason = format!("could not be read: {error}");
        return (Value::Null, Some(raw(reason.clone())), Some(reason));
    }
    if read.truncated {
        let reason = format!("is larger than the limit of {limit} bytes");
        return (Value::Null, Some(raw(reason.clone())), Some(reason));
    }
    if read.bytes.is_empty() {
        let wants_body = matches!(method.as_str(), "POST" | "PUT" | "PATCH");
        return (Value::Null, None, wants_body.then(|| "is empty; a JSON body was expected".to_string()));
    }
    let decoded = match decode(&read.bytes, encoding, limit) {
        Ok(decoded) => decoded,
        Err(reason) => return (Value::Null, Some(raw(reason.clone())), Some(reason)),
    };
    match serde_json::from_slice::<Value>(decoded.as_deref().unwrap_or(&read.bytes)) {
        Ok(value) => (value, None, None),
        Err(e) => {
            let reason = format!("is not JSON: {e}");
            (Value::Null, Some(raw(reason.clone())), Some(reason))
        }
    }
}

/// Undoes a content encoding; `None` when the body was not encoded.
fn decode(bytes: &[u8], encoding: Option<&str>, limit: usize) -> Result<Option<Vec<u8>>, String> {
    use std::io::Read;
    let reader: Box<dyn Read + '_> = match encoding {
        None | Some("identity") => return Ok(None),
        Some("zstd") => {
            Box::new(zstd::stream::read::Decoder::new(bytes).map_err(|e| format!("is not valid zstd: {e}"))?)
        }
        Some("gzip") => Box::new(flate2::read::GzDecoder::new(bytes)),
        Some("deflate") => Box::new(flate2::read::ZlibDecoder::new(bytes)),
        Some(other) => {
            return Err(format!("has content-encoding {other}, which parity cannot decode"));
        }
    };
    let mut decoded = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut decoded)
        .map_err(|e| format!("could not be decoded ({}): {e}", encoding.unwrap_or_default()))?;
    if decoded.len() > limit {
        return Err(format!("is larger than the limit of {limit} bytes once decoded"));
    }
    Ok(Some(decoded))
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
