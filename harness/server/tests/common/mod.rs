//! A real HTTP client for the server's tests: it reads event streams incrementally and notes when each event
//! arrived, so that tests can tell a stream from a buffered body.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use parity_capture::sse::{SseFrame, SseParser};
use serde_json::{Value, json};

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    /// Each event with the time since the request was sent.
    pub events: Vec<(Duration, SseFrame)>,
    /// The body, when it was not an event stream.
    pub body: String,
    /// Set when the body broke off (the connection was cut).
    pub error: Option<String>,
}

impl Reply {
    pub fn event_types(&self) -> Vec<String> {
        self.events.iter().map(|(_, f)| f.data_value()["type"].as_str().unwrap_or_default().to_string()).collect()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn error_message(&self) -> String {
        self.json()["error"]["message"].as_str().unwrap_or_default().to_string()
    }

    /// The completed or failed response object.
    pub fn last_data(&self) -> Value {
        self.events.last().map(|(_, f)| f.data_value()).unwrap_or(Value::Null)
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

/// A plausible Codex request body.
pub fn codex_body(prompt: &str) -> Value {
    json!({
        "model": "gpt-5.5",
        "stream": true,
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": prompt}]}],
        "tools": [],
    })
}

/// POSTs a body to `<base>/responses` with headers, reading the answer as it arrives.
pub async fn post(base_url: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
    post_raw(base_url, serde_json::to_vec(body).unwrap(), headers).await
}

pub async fn post_raw(base_url: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Reply {
    let mut request =
        client().post(format!("{base_url}/responses")).header("content-type", "application/json").body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    read(request).await
}

pub async fn read(request: reqwest::RequestBuilder) -> Reply {
    let sent = Instant::now();
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let is_stream =
        headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("text/event-stream"));
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    let mut body = Vec::new();
    let mut error = None;
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        match chunk {
            Ok(bytes) => {
                if is_stream {
                    let at = sent.elapsed();
                    events.extend(parser.push(&bytes).into_iter().map(|f| (at, f)));
                } else {
                    body.extend_from_slice(&bytes);
                }
            }
            Err(e) => {
                error = Some(format!("{e:?}"));
                break;
            }
        }
    }
    Reply { status, headers, events, body: String::from_utf8_lossy(&body).into_owned(), error }
}

/// GETs a URL and parses the JSON answer.
pub async fn get_json(url: &str) -> Value {
    let text = client().get(url).send().await.unwrap().text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url} answered non-JSON ({e}): {text}"))
}
