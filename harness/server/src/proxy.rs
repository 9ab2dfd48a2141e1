//! Proxy mode: each request goes on to a real Responses endpoint, and the answer comes back chunk by chunk as the
//! origin sends it, while both sides are recorded.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Response, header};
use bytes::Bytes;
use futures_util::StreamExt;
use parity_capture::model::ProxyInfo;
use parity_capture::sse::SseParser;
use parity_capture::{Outcome, StreamEvent};
use serde_json::Value;

use crate::journal::Exchange;
use crate::plan::error_body;
use crate::respond::{body_channel, cut_connection, response_head};

/// Where to forward, and with which credential.
#[derive(Clone)]
pub struct ProxyConfig {
    /// The origin's base URL, e.g. `https://api.openai.com/v1`: `/v1/responses` goes to `<origin>/responses`.
    pub origin: String,
    /// A credential sent to the origin instead of the agent's own, so that the agent can hold a dummy key. Never
    /// written anywhere.
    pub credential: Option<String>,
}

impl std::fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyConfig")
            .field("origin", &self.origin)
            .field("credential", &self.credential.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

/// Request headers that belong to one hop, or that the proxy sets itself. `accept-encoding` is dropped so that the
/// origin answers uncompressed and the stream can be read while it is forwarded.
const REQUEST_HOP_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "accept-encoding",
];
pub(crate) const RESPONSE_HOP_HEADERS: &[&str] =
    &["content-length", "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"];
/// Headers that carry the agent's own credential, replaced when the proxy has one.
const CREDENTIAL_HEADERS: &[&str] = &["authorization", "api-key", "x-api-key"];

pub(crate) struct Proxy {
    /// The origin's base URL without its query.
    origin: String,
    /// The origin URL's own query (`api-version=...` for Azure), kept on every request.
    origin_query: Option<String>,
    credential: Option<HeaderValue>,
    client: reqwest::Client,
    max_body_bytes: usize,
}

impl Proxy {
    pub fn new(config: ProxyConfig, max_body_bytes: usize) -> Result<Proxy, String> {
        let (origin, origin_query) = match config.origin.split_once('?') {
            Some((base, query)) => (base, Some(query.to_string()).filter(|q| !q.is_empty())),
            None => (config.origin.as_str(), None),
        };
        let origin = origin.trim_end_matches('/').to_string();
        if !(origin.starts_with("http://") || origin.starts_with("https://")) {
            return Err(format!("--proxy {origin}: not an http:// or https:// URL"));
        }
        let credential = match config.credential {
            Some(key) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {key}"))
                    .map_err(|_| "the origin credential has characters a header cannot carry".to_string())?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("could not build the HTTP client: {e}"))?;
        Ok(Proxy { origin, origin_query, credential, client, max_body_bytes })
    }

    /// `/v1/responses?x=1` -> `<origin>/responses?<origin's query>&x=1`: the path joins the origin's path, the
    /// queries join each other.
    fn url_for(&self, path: &str, query: Option<&str>) -> String {
        let rest = path.strip_prefix("/v1").filter(|r| r.is_empty() || r.starts_with('/')).unwrap_or(path);
        let queries: Vec<&str> =
            self.origin_query.as_deref().into_iter().chain(query).filter(|q| !q.is_empty()).collect();
        if queries.is_empty() {
            format!("{}{rest}", self.origin)
        } else {
            format!("{}{rest}?{}", self.origin, queries.join("&"))
        }
    }

    /// The request that opens a WebSocket to the origin for an agent's upgrade: the origin's URL for the path with
    /// `ws` or `wss` for `http` or `https`, the agent's headers without those of the hop and of its own handshake,
    /// the credential replaced as for HTTP. Also the URL, credentials stripped, for the record.
    pub(crate) fn websocket_request(
        &self,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        redactor: &parity_capture::redact::Redactor,
    ) -> Result<(tokio_tungstenite::tungstenite::handshake::client::Request, ProxyInfo), String> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = self.url_for(path, query);
        let ws_url = match url.split_once("://") {
            Some(("https", rest)) => format!("wss://{rest}"),
            Some(("http", rest)) => format!("ws://{rest}"),
            _ => url.clone(),
        };
        let mut request = ws_url.as_str().into_client_request().map_err(|e| format!("{ws_url}: {e}"))?;
        for (name, value) in headers {
            let n = name.as_str();
            let replaced = self.credential.is_some() && CREDENTIAL_HEADERS.contains(&n);
            if REQUEST_HOP_HEADERS.contains(&n) || n.starts_with("sec-websocket-") || replaced {
                continue;
            }
            request.headers_mut().append(name.clone(), value.clone());
        }
        if let Some(credential) = &self.credential {
            request.headers_mut().insert(header::AUTHORIZATION, credential.clone());
        }
        let info = ProxyInfo { url: redactor.redact_url(&ws_url), credential_replaced: self.credential.is_some() };
        Ok((request, info))
    }

    pub async fn forward(
        &self,
        method: Method,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: Bytes,
        exchange: Exchange,
    ) -> Response<Body> {
        let url = self.url_for(path, query);
        exchange.update(|c| {
            c.proxy = Some(ProxyInfo {
                url: exchange.redactor().redact_url(&url),
                credential_replaced: self.credential.is_some(),
            })
        });
        let mut forwarded = HeaderMap::with_capacity(headers.len());
        for (name, value) in headers {
            let replaced = self.credential.is_some() && CREDENTIAL_HEADERS.contains(&name.as_str());
            if !REQUEST_HOP_HEADERS.contains(&name.as_str()) && !replaced {
                forwarded.append(name.clone(), value.clone());
            }
        }
        if let Some(credential) = &self.credential {
            forwarded.insert(header::AUTHORIZATION, credential.clone());
        }
        let sent = self.client.request(method, &url).headers(forwarded).body(body).send().await;
        let origin = match sent {
            Ok(response) => response,
            Err(e) => return unreachable_origin(exchange, &url, &e).await,
        };

        let status = origin.status().as_u16();
        let headers: Vec<(String, String)> = origin
            .headers()
            .iter()
            .filter(|(n, _)| !RESPONSE_HOP_HEADERS.contains(&n.as_str()))
            .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let encoding = origin.headers().get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).map(str::to_string);
        let is_stream = origin
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"));
        let (tx, client_body) = body_channel();
        let response = response_head(&exchange, status, &headers, client_body);
        let max_body_bytes = self.max_body_bytes;

        tokio::spawn(async move {
            let mut chunks = origin.bytes_stream();
            let mut parser = SseParser::new();
            let mut document = Vec::new();
            let mut outcome = Outcome::Completed;
            let mut error = None;
            // The agent gets the bytes as the origin sent them; the record gets them decoded, events included.
            let mut decoder = BodyDecoder::for_encoding(encoding.as_deref());
            if let Err(why) = &decoder {
                error = Some(why.clone());
            }
            let mut record = |bytes: &[u8], t_ms: f64, document: &mut Vec<u8>| {
                if is_stream {
                    let events: Vec<StreamEvent> = parser
                        .push(bytes)
                        .into_iter()
                        .map(|f| StreamEvent { t_ms, data: f.data_value(), event: f.event })
                        .collect();
                    if !events.is_empty() {
                        exchange.update(|c| c.response.events.extend(events));
                    }
                } else if document.len() < max_body_bytes {
                    document.extend_from_slice(bytes);
                }
            };
            loop {
                let next = tokio::select! {
                    next = chunks.next() => next,
                    _ = tx.closed() => { outcome = Outcome::ClientClosed; break; }
                };
                match next {
                    Some(Ok(chunk)) => {
                        let t_ms = exchange.elapsed_ms();
                        // Forward first: recording must not delay the agent.
                        let delivered = tx.send(Ok(chunk.clone())).await.is_ok();
                        if let Ok(d) = &mut decoder {
                            match d.push(&chunk) {
                                Ok(plain) => record(&plain, t_ms, &mut document),
                                Err(why) => {
                                    error = Some(why);
                                    decoder = Err(String::new());
                                }
                            }
                        }
                        if !delivered {
                            outcome = Outcome::ClientClosed;
                            break;
                        }
                    }
                    Some(Err(e)) => {
                        outcome = Outcome::Dropped;
                        error = Some(format!("the origin's response broke off: {e}"));
                        break;
                    }
                    None => break,
                }
            }
            if let Ok(d) = &mut decoder {
                match d.finish() {
                    Ok(plain) => record(&plain, exchange.elapsed_ms(), &mut document),
                    Err(why) => error = Some(why),
                }
            }
            // A stream that ends inside an event was cut, whether the origin's framing said so (a chunked body cut
            // short is an error above) or not (a close-delimited body just ends): the same fault, the same outcome.
            if outcome == Outcome::Completed && is_stream && parser.in_event() {
                outcome = Outcome::Dropped;
                error = Some("the origin's stream ended in the middle of an event".to_string());
            }
            let end = exchange.elapsed_ms();
            exchange.update(|c| {
                c.response.outcome = outcome;
                c.response.end_ms = Some(end);
                c.response.error = error;
                if !is_stream {
                    c.response.body = Some(
                        serde_json::from_slice(&document)
                            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&document).into_owned())),
                    );
                }
            });
            exchange.finish().await;
            if outcome == Outcome::Dropped {
                cut_connection(&tx, "parity: the origin's response broke off").await;
            }
        });
        response
    }
}

/// Undoes an origin's `content-encoding` chunk by chunk, for the record only.
enum BodyDecoder {
    Identity,
    Gzip(flate2::write::GzDecoder<Vec<u8>>),
    Deflate(flate2::write::ZlibDecoder<Vec<u8>>),
    Zstd(Box<zstd::stream::write::Decoder<'static, Vec<u8>>>),
}

impl BodyDecoder {
    /// The decoder for an encoding, or why the body will be recorded without its events.
    fn for_encoding(encoding: Option<&str>) -> Result<BodyDecoder, String> {
        let encoding = encoding.map(|e| e.trim().to_ascii_lowercase());
        Ok(match encoding.as_deref() {
            None | Some("" | "identity") => BodyDecoder::Identity,
            Some("gzip" | "x-gzip") => BodyDecoder::Gzip(flate2::write::GzDecoder::new(Vec::new())),
            Some("deflate") => BodyDecoder::Deflate(flate2::write::ZlibDecoder::new(Vec::new())),
            Some("zstd") => BodyDecoder::Zstd(Box::new(
                zstd::stream::write::Decoder::new(Vec::new()).map_err(|e| format!("zstd decoder: {e}"))?,
            )),
            Some(other) => {
                return Err(format!(
                    "the origin's answer has content-encoding {other}, which parity cannot decode: the agent got it \
                     as sent, the record has no events or body"
                ));
            }
        })
    }

    /// The decoded bytes this chunk completes.
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, String> {
        use std::io::Write;
        let written = match self {
            BodyDecoder::Identity => return Ok(chunk.to_vec()),
            BodyDecoder::Gzip(d) => d.write_all(chunk).and_then(|_| d.flush()),
            BodyDecoder::Deflate(d) => d.write_all(chunk).and_then(|_| d.flush()),
            BodyDecoder::Zstd(d) => d.write_all(chunk).and_then(|_| d.flush()),
        };
        written.map_err(|e| format!("the origin's encoded answer could not be decoded: {e}"))?;
        Ok(self.take())
    }

    /// What is left once the body has ended.
    fn finish(&mut self) -> Result<Vec<u8>, String> {
        let finished = match self {
            BodyDecoder::Identity => Ok(()),
            BodyDecoder::Gzip(d) => d.try_finish(),
            BodyDecoder::Deflate(d) => d.try_finish(),
            BodyDecoder::Zstd(d) => std::io::Write::flush(d),
        };
        finished.map_err(|e| format!("the origin's encoded answer ended early: {e}"))?;
        Ok(self.take())
    }

    fn take(&mut self) -> Vec<u8> {
        match self {
            BodyDecoder::Identity => Vec::new(),
            BodyDecoder::Gzip(d) => std::mem::take(d.get_mut()),
            BodyDecoder::Deflate(d) => std::mem::take(d.get_mut()),
            BodyDecoder::Zstd(d) => std::mem::take(d.get_mut()),
        }
    }
}

/// The origin could not be reached: the agent gets a 502 that says so, and the capture records it.
async fn unreachable_origin(exchange: Exchange, url: &str, error: &reqwest::Error) -> Response<Body> {
    let mut cause = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        cause.push_str(": ");
        cause.push_str(&s.to_string());
        source = s.source();
    }
    // The cause may repeat the URL, credentials and all.
    let shown = exchange.redactor().redact_url(url);
    let cause = cause.replace(url, &shown);
    let message = format!("parity proxy: could not reach the origin {shown}: {cause}");
    let body = error_body("parity_origin_unreachable", &message);
    let headers = [("content-type".to_string(), "application/json".to_string())];
    let response = response_head(&exchange, 502, &headers, Body::from(serde_json::to_vec(&body).expect("serializes")));
    let end = exchange.elapsed_ms();
    exchange.update(|c| {
        c.response.body = Some(body);
        c.response.outcome = Outcome::OriginUnreachable;
        c.response.error = Some(message);
        c.response.end_ms = Some(end);
    });
    exchange.finish().await;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_onto_the_origin_base() {
        let p = Proxy::new(ProxyConfig { origin: "https://api.example.com/v1/".into(), credential: None }, 1).unwrap();
        assert_eq!(p.url_for("/v1/responses", None), "https://api.example.com/v1/responses");
        assert_eq!(p.url_for("/v1/models", Some("a=1")), "https://api.example.com/v1/models?a=1");
        assert_eq!(p.url_for("/v1beta/x", None), "https://api.example.com/v1/v1beta/x");
        assert!(Proxy::new(ProxyConfig { origin: "ftp://x".into(), credential: None }, 1).is_err());
        let azure = ProxyConfig { origin: "http://host/v1?api-version=X".into(), credential: None };
        let p = Proxy::new(azure, 1).unwrap();
        assert_eq!(p.url_for("/v1/responses", None), "http://host/v1/responses?api-version=X");
        assert_eq!(p.url_for("/v1/responses", Some("a=1")), "http://host/v1/responses?api-version=X&a=1");
    }
}
