//! A plan is what the server does to answer one request: a status, headers, and a body that is either one
//! document or a stream of actions. Scripted mode compiles steps into plans, replay mode turns recorded exchanges
//! into plans, and a single executor ([`crate::exchange`]) carries them out.

use std::time::Duration;

use serde_json::Value;

use crate::script::Until;

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: PlanBody,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PlanBody {
    /// A `text/event-stream` body.
    Stream(Vec<Action>),
    /// A JSON document.
    Json(Value),
    /// A text document.
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send one event: `event: <event>` (when given) and `data: <data>` (compact JSON, or the string as is).
    Send {
        event: Option<String>,
        data: Value,
    },
    Sleep(Duration),
    Hold(HoldPoint),
    /// Cut the connection here, without ending the stream.
    Disconnect,
    /// WebSocket: send a close frame here and end the connection (over HTTP, a cut like `Disconnect`).
    Close {
        code: u16,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldPoint {
    pub name: String,
    /// The event the stream stops before, for the record (`end of stream` at the very end).
    pub before: String,
    pub until: Until,
    pub timeout: Duration,
}

impl Plan {
    /// A JSON answer.
    pub fn json(status: u16, body: Value) -> Plan {
        Plan { status, headers: vec![("content-type".into(), "application/json".into())], body: PlanBody::Json(body) }
    }

    /// A JSON error answer in the OpenAI shape, with a parity-specific code so that agents and people can tell an
    /// answer of the harness from one of a model.
    pub fn error(status: u16, code: &str, message: impl Into<String>) -> Plan {
        Plan::json(status, error_body(code, &message.into()))
    }

    /// An event stream.
    pub fn stream(actions: Vec<Action>) -> Plan {
        Plan {
            status: 200,
            headers: vec![
                ("content-type".into(), "text/event-stream".into()),
                ("cache-control".into(), "no-cache".into()),
            ],
            body: PlanBody::Stream(actions),
        }
    }

    /// The event types this plan sends, in order (for validation and messages).
    pub fn event_types(&self) -> Vec<String> {
        match &self.body {
            PlanBody::Stream(actions) => actions
                .iter()
                .filter_map(|a| match a {
                    Action::Send { event, data } => {
                        data.get("type").and_then(Value::as_str).map(str::to_string).or_else(|| event.clone())
                    }
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

pub fn error_body(code: &str, message: &str) -> Value {
    serde_json::json!({
        "error": {"message": message, "type": "invalid_request_error", "param": null, "code": code}
    })
}
