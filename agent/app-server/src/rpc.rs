//! JSON-RPC 2.0 framing as upstream's app server speaks it: one JSON message per line, no `"jsonrpc"` member in what
//! it sends (a client may send one or not), ids echoed back as they came (string or integer).

use serde_json::{Value, json};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// The code upstream answers every refused request with (unknown method, bad parameters, unknown thread...).
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC's code for a line that is not JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC's code for a failure inside the server.
pub const INTERNAL_ERROR: i64 = -32603;

/// A refusal: the code and message of a JSON-RPC error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

impl RpcError {
    pub fn invalid(message: impl Into<String>) -> RpcError {
        RpcError { code: INVALID_REQUEST, message: message.into() }
    }

    pub fn internal(message: impl Into<String>) -> RpcError {
        RpcError { code: INTERNAL_ERROR, message: message.into() }
    }
}

/// What a handler gives: the result, or the error to answer with.
pub type Reply = Result<Value, RpcError>;

/// The server's output: every message goes through one writer task, a whole line at a time.
#[derive(Clone)]
pub struct Outgoing {
    lines: mpsc::UnboundedSender<String>,
}

impl Outgoing {
    /// Starts the writer task on `output`; it ends once every `Outgoing` is dropped and the lines are written.
    pub fn start(output: impl AsyncWrite + Unpin + Send + 'static) -> (Outgoing, tokio::task::JoinHandle<()>) {
        let (lines, mut receiver) = mpsc::unbounded_channel::<String>();
        let task = tokio::spawn(async move {
            let mut output = output;
            while let Some(mut line) = receiver.recv().await {
                line.push('\n');
                if output.write_all(line.as_bytes()).await.is_err() || output.flush().await.is_err() {
                    // The client is gone; what is left has nowhere to go.
                    break;
                }
            }
        });
        (Outgoing { lines }, task)
    }

    pub fn send(&self, message: &Value) {
        let _ = self.lines.send(message.to_string());
    }

    pub fn reply(&self, id: &Value, reply: Reply) {
        match reply {
            Ok(result) => self.send(&json!({"id": id, "result": result})),
            Err(error) => self.error(id, error),
        }
    }

    pub fn error(&self, id: &Value, error: RpcError) {
        self.send(&json!({"error": {"code": error.code, "message": error.message}, "id": id}));
    }

    /// A notification, stamped with the time it was sent, as upstream stamps its own.
    pub fn notify(&self, method: &str, params: Value) {
        self.send(&json!({"method": method, "params": params, "emittedAtMs": now_ms()}));
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Seconds since the epoch.
pub fn now_s() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// A request's parameters as `T`, or upstream's refusal (`Invalid request: missing field `threadId``).
pub fn params<T: serde::de::DeserializeOwned>(params: &Value) -> Result<T, RpcError> {
    let params = if params.is_null() { json!({}) } else { params.clone() };
    serde_json::from_value(params).map_err(|e| RpcError::invalid(format!("Invalid request: {e}")))
}
