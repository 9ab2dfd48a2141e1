//! The Codex app-server protocol, as recorded data: checks JSON-RPC messages against the JSON Schema that upstream
//! writes (`codex app-server generate-json-schema`, recorded by `scripts/record-app-server-schema.sh` into
//! `captures/codex-<version>/app-server-schema/`).
//!
//! A message is checked against the part of the schema for its method and direction:
//!
//! | message | from the client | from the agent |
//! | --- | --- | --- |
//! | request | `ClientRequest.json`, the branch of its method | `ServerRequest.json`, likewise |
//! | notification | `ClientNotification.json` | `ServerNotification.json` |
//! | response | the `…Response.json` of the agent's request it answers | the `…Response.json` of the client's request |
//!
//! A message that breaks its schema gives [`Violation`]s naming the method and the JSON pointer of what is wrong.
//! Validators are compiled the first time a method is seen.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::{Map, Value};

/// Who sent a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sender {
    /// The harness, an SDK or an IDE: what drives the app server.
    Client,
    /// The app server.
    Agent,
}

/// What a message is, by its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    Request,
    Notification,
    Response,
}

/// Where a message breaks the protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The method of the message, or of the request a response answers (`?` when not known).
    pub method: String,
    /// JSON pointer into the message.
    pub pointer: String,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pointer = if self.pointer.is_empty() { "(the whole message)" } else { &self.pointer };
        write!(f, "{}: {pointer}: {}", self.method, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
}

/// The schema of one union (`ClientRequest.json` and the like): its branches by method, and its definitions.
struct Union {
    definitions: Value,
    schema: String,
    branches: HashMap<String, Value>,
}

type Key = (Sender, Shape, String);

/// The protocol of one upstream release, loaded from its recorded schema directory.
pub struct Protocol {
    dir: PathBuf,
    unions: HashMap<(Sender, Shape), Union>,
    /// Response schema file names by (who answers, method answered).
    responses: HashMap<(Sender, String), PathBuf>,
    compiled: Mutex<HashMap<Key, Arc<jsonschema::Validator>>>,
}

impl Protocol {
    /// Loads `dir` (e.g. `captures/codex-0.169.0/app-server-schema`).
    pub fn load(dir: &Path) -> Result<Protocol, ProtocolError> {
        let union = |file: &str| -> Result<Union, ProtocolError> {
            let path = dir.join(file);
            let value = read_json(&path)?;
            let branches = value
                .get("oneOf")
                .and_then(Value::as_array)
                .ok_or_else(|| ProtocolError::File { path: path.clone(), message: "no `oneOf` of messages".into() })?;
            let mut by_method = HashMap::new();
            for branch in branches {
                if let Some(method) = branch.pointer("/properties/method/enum/0").and_then(Value::as_str) {
                    by_method.insert(method.to_string(), branch.clone());
                }
            }
            Ok(Union {
                definitions: value.get("definitions").cloned().unwrap_or(Value::Object(Map::new())),
                schema: value.get("$schema").and_then(Value::as_str).unwrap_or_default().to_string(),
                branches: by_method,
            })
        };
        let mut unions = HashMap::new();
        unions.insert((Sender::Client, Shape::Request), union("ClientRequest.json")?);
        unions.insert((Sender::Client, Shape::Notification), union("ClientNotification.json")?);
        unions.insert((Sender::Agent, Shape::Request), union("ServerRequest.json")?);
        unions.insert((Sender::Agent, Shape::Notification), union("ServerNotification.json")?);

        // A request's answer is the schema named like its params, `XParams` -> `XResponse.json`, at the top or
        // under v1/ or v2/.
        let mut responses = HashMap::new();
        for (asker, answerer) in [(Sender::Client, Sender::Agent), (Sender::Agent, Sender::Client)] {
            for (method, branch) in &unions[&(asker, Shape::Request)].branches {
                let params = branch.pointer("/properties/params/$ref").and_then(Value::as_str).unwrap_or_default();
                let Some(stem) = params.rsplit('/').next().and_then(|n| n.strip_suffix("Params")) else { continue };
                let file = format!("{stem}Response.json");
                if let Some(found) = ["", "v1", "v2"].iter().map(|d| dir.join(d).join(&file)).find(|p| p.is_file()) {
                    responses.insert((answerer, method.clone()), found);
                }
            }
        }
        Ok(Protocol { dir: dir.to_path_buf(), unions, responses, compiled: Mutex::new(HashMap::new()) })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The methods a sender may call (requests) or announce (notifications).
    pub fn methods(&self, sender: Sender, shape: Shape) -> Vec<&str> {
        let mut methods: Vec<&str> = self
            .unions
            .get(&(sender, shape))
            .map(|u| u.branches.keys().map(String::as_str).collect())
            .unwrap_or_default();
        methods.sort();
        methods
    }

    /// Checks one message. A response is checked against the answer of `answers`, the method of the request it
    /// answers (which the caller knows from the request's id); without it, only its JSON-RPC shape is checked.
    pub fn check(&self, sender: Sender, message: &Value, answers: Option<&str>) -> Vec<Violation> {
        let violation = |method: &str, pointer: &str, message: String| Violation {
            method: method.to_string(),
            pointer: pointer.to_string(),
            message,
        };
        let Some(object) = message.as_object() else {
            return vec![violation("?", "", "a JSON-RPC message is an object".into())];
        };
        let shape = match shape_of(object) {
            Ok(shape) => shape,
            Err(why) => return vec![violation(answers.unwrap_or("?"), "", why)],
        };
        let method = match shape {
            Shape::Response => match answers {
                Some(method) => method.to_string(),
                None => return Vec::new(),
            },
            _ => object.get("method").and_then(Value::as_str).unwrap_or_default().to_string(),
        };
        if shape == Shape::Response && object.contains_key("error") {
            return check_error(object, &method);
        }
        let validator = match self.validator(sender, shape, &method) {
            Ok(Some(validator)) => validator,
            Ok(None) => return Vec::new(),
            Err(why) => return vec![violation(&method, "", why)],
        };
        let instance = if shape == Shape::Response { object.get("result").unwrap_or(&Value::Null) } else { message };
        let prefix = if shape == Shape::Response { "/result" } else { "" };
        validator
            .iter_errors(instance)
            .map(|e| violation(&method, &format!("{prefix}{}", e.instance_path().as_str()), e.to_string()))
            .collect()
    }

    /// The validator for a method, compiled once; `None` for a response whose answer schema was not recorded.
    fn validator(
        &self,
        sender: Sender,
        shape: Shape,
        method: &str,
    ) -> Result<Option<Arc<jsonschema::Validator>>, String> {
        let key = (sender, shape, method.to_string());
        if let Some(found) = self.compiled.lock().expect("validator cache").get(&key) {
            return Ok(Some(found.clone()));
        }
        let schema = match shape {
            Shape::Response => {
                let Some(path) = self.responses.get(&(sender, method.to_string())) else { return Ok(None) };
                read_json(path).map_err(|e| e.to_string())?
            }
            _ => {
                let union = &self.unions[&(sender, shape)];
                let Some(branch) = union.branches.get(method) else {
                    let kind = if shape == Shape::Request { "request" } else { "notification" };
                    let who = if sender == Sender::Client { "a client" } else { "the app server" };
                    return Err(format!("no {kind} `{method}` from {who} is in the protocol"));
                };
                let mut schema = branch.clone();
                schema["definitions"] = union.definitions.clone();
                schema["$schema"] = Value::String(union.schema.clone());
                schema
            }
        };
        let validator =
            Arc::new(jsonschema::validator_for(&schema).map_err(|e| format!("its schema does not compile: {e}"))?);
        self.compiled.lock().expect("validator cache").insert(key, validator.clone());
        Ok(Some(validator))
    }
}

/// A request has `method` and `id`, a notification `method` alone, a response `id` and `result` or `error`.
fn shape_of(object: &Map<String, Value>) -> Result<Shape, String> {
    match (
        object.get("method"),
        object.contains_key("id"),
        object.contains_key("result") || object.contains_key("error"),
    ) {
        (Some(Value::String(_)), true, false) => Ok(Shape::Request),
        (Some(Value::String(_)), false, false) => Ok(Shape::Notification),
        (None, true, true) => Ok(Shape::Response),
        (Some(_), _, false) => Err("`method` is not a string".into()),
        _ => Err("neither a request (method, id), a notification (method) nor a response (id, result or error)".into()),
    }
}

/// A JSON-RPC error: `{code: integer, message: string, data?}`.
fn check_error(object: &Map<String, Value>, method: &str) -> Vec<Violation> {
    let error = &object["error"];
    let mut out = Vec::new();
    if !error.get("code").is_some_and(Value::is_i64) {
        out.push(Violation {
            method: method.into(),
            pointer: "/error/code".into(),
            message: "an error's code is an integer".into(),
        });
    }
    if !error.get("message").is_some_and(Value::is_string) {
        out.push(Violation {
            method: method.into(),
            pointer: "/error/message".into(),
            message: "an error's message is a string".into(),
        });
    }
    out
}

fn read_json(path: &Path) -> Result<Value, ProtocolError> {
    let text =
        std::fs::read(path).map_err(|e| ProtocolError::File { path: path.to_path_buf(), message: e.to_string() })?;
    serde_json::from_slice(&text).map_err(|e| ProtocolError::File { path: path.to_path_buf(), message: e.to_string() })
}

/// Checks a transcript in order, pairing each response with the request it answers by id: every violation with the
/// index of its message.
pub fn check_transcript<'a>(
    protocol: &Protocol,
    messages: impl IntoIterator<Item = (Sender, &'a Value)>,
) -> Vec<(usize, Violation)> {
    let mut pending: HashMap<(Sender, String), String> = HashMap::new();
    let mut out = Vec::new();
    for (index, (sender, message)) in messages.into_iter().enumerate() {
        let id = message.get("id").map(Value::to_string);
        let method = message.get("method").and_then(Value::as_str);
        let answers = match (&id, method) {
            (Some(id), Some(method)) => {
                pending.insert((sender, id.clone()), method.to_string());
                None
            }
            // A response answers the other side's request of that id.
            (Some(id), None) => {
                let asker = if sender == Sender::Client { Sender::Agent } else { Sender::Client };
                pending.remove(&(asker, id.clone()))
            }
            _ => None,
        };
        out.extend(protocol.check(sender, message, answers.as_deref()).into_iter().map(|v| (index, v)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn protocol() -> Protocol {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../captures/codex-0.169.0/app-server-schema");
        Protocol::load(&dir).unwrap()
    }

    #[test]
    fn the_recorded_schema_knows_the_methods_clients_use() {
        let p = protocol();
        let requests = p.methods(Sender::Client, Shape::Request);
        for method in ["initialize", "thread/start", "turn/start", "turn/steer", "turn/interrupt", "thread/resume"] {
            assert!(requests.contains(&method), "{method}");
        }
        let notifications = p.methods(Sender::Agent, Shape::Notification);
        for method in ["turn/started", "turn/completed", "item/started", "item/agentMessage/delta"] {
            assert!(notifications.contains(&method), "{method}");
        }
        assert!(p.methods(Sender::Agent, Shape::Request).contains(&"item/commandExecution/requestApproval"));
    }

    #[test]
    fn a_message_that_breaks_its_schema_is_named_by_method_and_pointer() {
        let p = protocol();
        let good =
            json!({"id": 1, "method": "initialize", "params": {"clientInfo": {"name": "parity", "version": "1"}}});
        assert_eq!(p.check(Sender::Client, &good, None), []);
        let bad = json!({"id": 1, "method": "initialize", "params": {"clientInfo": {"name": 7, "version": "1"}}});
        let violations = p.check(Sender::Client, &bad, None);
        assert!(
            violations.iter().any(|v| v.method == "initialize" && v.pointer == "/params/clientInfo/name"),
            "{violations:?}"
        );
        let unknown = p.check(Sender::Client, &json!({"id": 2, "method": "thread/teleport", "params": {}}), None);
        assert!(unknown[0].message.contains("no request `thread/teleport` from a client"), "{unknown:?}");
        let nonsense = p.check(Sender::Agent, &json!({"hello": 1}), None);
        assert!(nonsense[0].message.contains("neither a request"), "{nonsense:?}");
    }

    #[test]
    fn responses_are_checked_against_the_answer_of_the_request_they_answer() {
        let p = protocol();
        let transcript = [
            (
                Sender::Client,
                json!({"id": "a", "method": "initialize", "params": {"clientInfo": {"name": "parity", "version": "1"}}}),
            ),
            (Sender::Agent, json!({"id": "a", "result": {"userAgent": 12}})),
            (
                Sender::Client,
                json!({"id": "b", "method": "turn/interrupt", "params": {"threadId": "t", "turnId": "u"}}),
            ),
            (Sender::Agent, json!({"id": "b", "error": {"code": -32600, "message": "no such turn"}})),
        ];
        let violations = check_transcript(&p, transcript.iter().map(|(s, m)| (*s, m)));
        assert!(!violations.is_empty());
        assert!(violations.iter().all(|(i, _)| *i == 1), "only the bad answer to initialize: {violations:?}");
        assert!(
            violations.iter().any(|(_, v)| v.method == "initialize" && v.pointer.starts_with("/result")),
            "{violations:?}"
        );
    }
}
