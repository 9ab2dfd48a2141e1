//! Requests from the server to the client (approvals, user input): sent with ids of the server's own (integers from
//! 0, as upstream numbers them), answered by the client with a response carrying the same id.
//!
//! [`ServerRequests::call`] sends one and waits for the answer; the read loop hands every response the client sends
//! to [`ServerRequests::resolve`]. When the client answers, `serverRequest/resolved` tells it the request is settled
//! (upstream sends it for requests about a thread). A client that disconnects answers nothing: waiting calls get
//! [`ClientAnswer::Gone`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::rpc::Outgoing;

/// How the client answered a server request.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientAnswer {
    /// Its `result`.
    Result(Value),
    /// Its `error` object (`{code, message, data?}`).
    Error(Value),
    /// The client disconnected (or the server is shutting down) before answering.
    Gone,
}

pub struct ServerRequests {
    out: Outgoing,
    next_id: AtomicI64,
    pending: Mutex<HashMap<i64, oneshot::Sender<ClientAnswer>>>,
}

impl ServerRequests {
    pub fn new(out: Outgoing) -> ServerRequests {
        ServerRequests { out, next_id: AtomicI64::new(0), pending: Mutex::new(HashMap::new()) }
    }

    /// Sends `method` with `params` to the client and waits for its answer. `thread_id` names the thread the request
    /// is about: once answered, `serverRequest/resolved` is sent for it.
    pub async fn call(&self, thread_id: Option<&str>, method: &str, params: Value) -> ClientAnswer {
        self.send(thread_id, method, params).answer().await
    }

    /// Sends `method` with `params` to the client now (in order with the notifications sent before and after), and
    /// returns the wait for its answer (see [`Self::call`]).
    pub fn send(&self, thread_id: Option<&str>, method: &str, params: Value) -> PendingRequest {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (answer, answered) = oneshot::channel();
        self.pending.lock().expect("pending requests").insert(id, answer);
        self.out.send(&json!({"method": method, "id": id, "params": params}));
        PendingRequest { id, thread_id: thread_id.map(str::to_string), answered, out: self.out.clone() }
    }

    /// Takes a response of the client's; `false` when it answers no request of ours.
    pub fn resolve(&self, message: &Value) -> bool {
        let Some(id) = message.get("id").and_then(Value::as_i64) else { return false };
        let Some(waiting) = self.pending.lock().expect("pending requests").remove(&id) else { return false };
        let answer = match (message.get("result"), message.get("error")) {
            (_, Some(error)) => ClientAnswer::Error(error.clone()),
            (Some(result), None) => ClientAnswer::Result(result.clone()),
            (None, None) => ClientAnswer::Error(json!({"code": crate::rpc::INVALID_REQUEST, "message": "no result"})),
        };
        let _ = waiting.send(answer);
        true
    }

    /// Ends every wait: the client is gone.
    pub fn cancel_all(&self) {
        for (_, waiting) in self.pending.lock().expect("pending requests").drain() {
            let _ = waiting.send(ClientAnswer::Gone);
        }
    }
}

/// A request sent to the client, its answer awaited.
pub struct PendingRequest {
    id: i64,
    thread_id: Option<String>,
    answered: oneshot::Receiver<ClientAnswer>,
    out: Outgoing,
}

impl PendingRequest {
    /// Waits for the client's answer; tells it the request is settled when it is about a thread.
    pub async fn answer(self) -> ClientAnswer {
        let answer = self.answered.await.unwrap_or(ClientAnswer::Gone);
        if let Some(thread_id) = &self.thread_id
            && answer != ClientAnswer::Gone
        {
            self.out.notify("serverRequest/resolved", json!({"threadId": thread_id, "requestId": self.id}));
        }
        answer
    }
}
