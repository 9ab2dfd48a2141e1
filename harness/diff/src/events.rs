//! The agent's own event streams: what it told its client, beside what it sent the model.
//!
//! A scenario's recording directory (what `parity record` writes) may hold two kinds of stream:
//!
//! - `turn-N/events.jsonl`: the `exec --json` events of turn N, one JSON object a line. Compared in order: exec
//!   writes them from one loop over the agent's events, so their order is the agent's.
//! - `frontend.jsonl`: the JSON-RPC transcript of an app-server run, `{"t_ms", "from": "client"|"agent",
//!   "message"}` lines, action lines (`{"t_ms", "action", "turn", ...}`) and `{"t_ms", "from": "agent",
//!   "malformed"}` lines. Only what the agent sent is compared; the client's messages and the actions are context
//!   (they say which request a response answers, and which turn a message belongs to). It is split by turn: a
//!   message naming a turn (`params.turnId`, `params.turn.id`) goes with the action turn in which that turn id first
//!   appeared (`frontend/turn-N`), a response with the request it answers, a malformed line with the action turn it
//!   came in (`frontend/setup` before any action); a message naming no turn (`thread/started`, `configWarning`,
//!   rate limits...) is about the thread as a whole and goes to `frontend/thread`, where it is compared per method:
//!   when it comes relative to the turns' actions is a race (a forked thread's `thread/started` arrives whenever).
//!
//! Each stream becomes one document, normalized with the requests' rules and placeholder numbering (so a thread id
//! in the events gets the placeholder it has in the request headers) and compared like a request, its divergences
//! in the category `events`.
//!
//! **Ordering.** The app-server sends notifications from more than one task: a response to `turn/start` and the
//! `turn/started` notification race, output deltas are cut where a pipe read ended, rate-limit and token-usage
//! updates arrive whenever the model's answer says so. A transcript's raw order is therefore not reproducible even
//! for one agent, and comparing it would report noise. The document puts each message where its meaning, not its
//! timing, places it:
//!
//! - `messages`: notifications and the agent's own requests (approvals, user input), in the order sent. They come
//!   from the thread's one event loop, so their order is the agent's and is compared: `item/started` before
//!   `item/completed`, `turn/completed` last.
//! - deltas (`item/agentMessage/delta`, `item/commandExecution/outputDelta`, ... any method ending in `Delta` or
//!   `/delta`) are joined per item (per method and every parameter but the text): one message whose `delta` is the
//!   whole text, placed just before its item's `item/completed` (at the end when the item does not complete). An
//!   SDK concatenates them; how the text was cut is the pipe's business. A process's output deltas are left out
//!   ([`PROCESS_OUTPUT`]): whether any comes before the process exits is a race upstream itself runs.
//! - `responses`: the agent's answers to the client's requests, in the order sent, each with the method of the
//!   request it answers (`{"request": "turn/start", "response": {...}}`). Their order among notifications races.
//! - `ambient`: notifications about the account and the thread's state as a whole ([`AMBIENT`]), per method, each
//!   method's in the order sent.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

/// A process's output as it streams: whether a quick command's output comes as a delta before the process exits
/// is a race upstream itself runs (two recordings of one scenario differ), so these are left out; the completed
/// item's `aggregatedOutput` holds the whole output and is compared.
pub const PROCESS_OUTPUT: &[&str] =
    &["item/commandExecution/outputDelta", "command/exec/outputDelta", "process/outputDelta"];

/// Notifications whose place among the others is timing, not meaning: compared per method, not interleaved.
pub const AMBIENT: &[&str] = &[
    "account/rateLimits/updated",
    "account/updated",
    "thread/tokenUsage/updated",
    "thread/status/changed",
    "mcpServer/startupStatus/updated",
    "app/list/updated",
    "skills/changed",
    "remoteControl/status/changed",
];

/// The event streams of one recording.
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    /// The scenario directory they were read from.
    pub dir: PathBuf,
    pub streams: Vec<Stream>,
    /// Working directories the client named (`cwd` in its requests), for the `paths` rule.
    pub cwds: Vec<String>,
}

/// One stream, as a document ready for normalization.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    /// Pairs the stream with the other side's: `events/turn-1`, `frontend/setup`, `frontend/turn-2`.
    pub id: String,
    /// The file it was read from, relative to the scenario directory.
    pub file: String,
    /// What it is, for reports: `exec --json events`, `app-server messages`.
    pub label: String,
    /// The document's top-level entries, in order.
    pub root: Vec<(String, Value)>,
}

impl EventLog {
    /// The scenario directory holding a recording's event streams: `root` itself, or its parent when `root` is the
    /// recording's `captures/` directory. `None` when there is no scenario directory there (a capture file, a
    /// session, or captures written by `parity serve`).
    pub fn dir_of(root: &Path) -> Option<PathBuf> {
        let is_scenario = |dir: &Path| dir.join("run.json").is_file() || dir.join("frontend.jsonl").is_file();
        if root.is_dir() && is_scenario(root) {
            return Some(root.to_path_buf());
        }
        let parent = root.parent().filter(|_| root.file_name().is_some_and(|n| n == "captures"))?;
        is_scenario(parent).then(|| parent.to_path_buf())
    }

    /// Reads the streams beside a recording (see [`EventLog::dir_of`]). A file that cannot be read is a stream
    /// saying so, which the other side's will not equal: the difference is reported, not hidden.
    pub fn beside(root: &Path) -> Option<EventLog> {
        Some(EventLog::load(&EventLog::dir_of(root)?))
    }

    /// Reads `turn-N/events.jsonl` for every turn directory and `frontend.jsonl` of a scenario directory.
    pub fn load(dir: &Path) -> EventLog {
        let mut log = EventLog { dir: dir.to_path_buf(), ..EventLog::default() };
        let mut turns: Vec<u32> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().to_str()?.strip_prefix("turn-")?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        turns.sort_unstable();
        for turn in turns {
            let file = format!("turn-{turn}/events.jsonl");
            let path = dir.join(&file);
            if !path.is_file() {
                continue;
            }
            let events = match std::fs::read_to_string(&path) {
                Ok(text) => by_lane(exec_events(&text), exec_lane),
                Err(e) => vec![json!({"unreadable": e.to_string()})],
            };
            log.streams.push(Stream {
                id: format!("events/turn-{turn}"),
                file,
                label: "exec --json events".into(),
                root: vec![("events".into(), Value::Array(events))],
            });
        }
        let path = dir.join("frontend.jsonl");
        if path.is_file() {
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let (streams, cwds) = frontend_streams(&text);
                    log.streams.extend(streams);
                    log.cwds = cwds;
                }
                Err(e) => log.streams.push(Stream {
                    id: "frontend/setup".into(),
                    file: "frontend.jsonl".into(),
                    label: "app-server messages".into(),
                    root: vec![("messages".into(), json!([{"unreadable": e.to_string()}]))],
                }),
            }
        }
        log
    }
}

/// The JSON lines of an `exec --json` output; a line that is not JSON stays as its text (it is output too).
pub fn exec_events(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| Value::String(line.to_string())))
        .collect()
}

/// A segment of the transcript being built: one turn's (or the setup's) messages.
#[derive(Default)]
struct Segment {
    messages: Vec<Value>,
    /// Joined deltas by key (method and parameters but the text), with the item they belong to.
    deltas: Vec<(String, Option<String>, Value)>,
    responses: Vec<Value>,
    ambient: BTreeMap<String, Vec<Value>>,
}

impl Segment {
    /// A notification or request of the agent's about this turn.
    fn notification(&mut self, message: Value) {
        let method = message.get("method").and_then(Value::as_str).unwrap_or_default().to_string();
        let has_id = message.get("id").is_some();
        if has_id {
            self.messages.push(message);
        } else if AMBIENT.contains(&method.as_str()) {
            self.ambient.entry(method).or_default().push(message.get("params").cloned().unwrap_or(Value::Null));
        } else if PROCESS_OUTPUT.contains(&method.as_str()) {
            // Left out: see PROCESS_OUTPUT.
        } else if is_delta(&method) {
            self.delta(message);
        } else {
            self.messages.push(message);
        }
    }

    /// A message about the thread as a whole (no turn id): compared per method, in the order sent.
    fn thread_level(&mut self, message: Value) {
        let method = message.get("method").and_then(Value::as_str).unwrap_or_default().to_string();
        let params = message.get("params").cloned().unwrap_or(Value::Null);
        self.ambient.entry(method).or_default().push(params);
    }

    fn delta(&mut self, message: Value) {
        let params = message.get("params").and_then(Value::as_object);
        let text = params.and_then(|p| p.get("delta")).and_then(Value::as_str).unwrap_or_default().to_string();
        let mut rest = params.cloned().unwrap_or_default();
        rest.remove("delta");
        let key = format!("{}\u{0}{}", message.get("method").and_then(Value::as_str).unwrap_or_default(), json!(rest));
        let item = rest.get("itemId").and_then(Value::as_str).map(str::to_string);
        match self.deltas.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, _, joined)) => {
                if let Some(Value::String(s)) = joined.pointer_mut("/params/delta") {
                    s.push_str(&text);
                }
            }
            None => self.deltas.push((key, item, message)),
        }
    }

    /// The document: joined deltas placed before their item's completion, items in lanes.
    fn finish(mut self, id: String) -> Stream {
        for (_, item, joined) in std::mem::take(&mut self.deltas) {
            let completes = |m: &Value| {
                m.get("method").and_then(Value::as_str) == Some("item/completed")
                    && item.is_some()
                    && m.pointer("/params/item/id").and_then(Value::as_str) == item.as_deref()
            };
            let at = self.messages.iter().position(completes).unwrap_or(self.messages.len());
            self.messages.insert(at, joined);
        }
        let messages = by_lane(std::mem::take(&mut self.messages), frontend_lane);
        let ambient: Map<String, Value> = self.ambient.into_iter().map(|(k, v)| (k, Value::Array(v))).collect();
        Stream {
            id,
            file: "frontend.jsonl".into(),
            label: "app-server messages".into(),
            root: vec![
                ("messages".into(), Value::Array(messages)),
                ("responses".into(), Value::Array(self.responses)),
                ("ambient".into(), Value::Object(ambient)),
            ],
        }
    }

    fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.deltas.is_empty() && self.responses.is_empty() && self.ambient.is_empty()
    }
}

/// An item's lane: its id, and whether it is a tool's (see [`by_lane`]).
struct Lane {
    id: String,
    tool: bool,
}

/// Items the model's answer orders: messages, reasoning, plans. Any other item is a tool's.
const MODEL_ITEMS: &[&str] = &[
    "agent_message",
    "reasoning",
    "error",
    "agentMessage",
    "userMessage",
    "plan",
    "contextCompaction",
    "enteredReviewMode",
    "exitedReviewMode",
];

fn exec_lane(event: &Value) -> Option<Lane> {
    let item = event.get("item")?;
    let id = item.get("id")?.as_str()?.to_string();
    let ty = item.get("type").and_then(Value::as_str).unwrap_or_default();
    Some(Lane { id, tool: !MODEL_ITEMS.contains(&ty) })
}

fn frontend_lane(message: &Value) -> Option<Lane> {
    let params = message.get("params")?;
    let item = params.get("item");
    let id = item.and_then(|i| i.get("id")).or_else(|| params.get("itemId"))?.as_str()?.to_string();
    let ty = item.and_then(|i| i.get("type")).and_then(Value::as_str);
    // A delta or an approval request names its item without its type: a model item's deltas come with the item's
    // own started and completed messages, which say.
    Some(Lane { id, tool: ty.is_none_or(|t| !MODEL_ITEMS.contains(&t)) })
}

/// Puts a stream in its canonical order. Each item's events form a lane (started, updates, completed, in the
/// order sent), lanes in order of first appearance, and every other event a lane of its own. A run of consecutive
/// tool items' lanes is sorted by content, ids left out: tools the model called together run concurrently, and
/// which starts first (and so which gets `item_0`) is a race; the model's request already says which calls it made
/// in which order, and the requests are compared in order.
fn by_lane(events: Vec<Value>, lane_of: fn(&Value) -> Option<Lane>) -> Vec<Value> {
    // (lane id, whether a tool's, events)
    let mut lanes: Vec<(Option<String>, bool, Vec<Value>)> = Vec::new();
    for event in events {
        match lane_of(&event) {
            Some(lane) => match lanes.iter_mut().find(|(id, _, _)| id.as_deref() == Some(lane.id.as_str())) {
                Some((_, tool, list)) => {
                    *tool &= lane.tool;
                    list.push(event);
                }
                None => lanes.push((Some(lane.id), lane.tool, vec![event])),
            },
            None => lanes.push((None, false, vec![event])),
        }
    }
    let mut out = Vec::new();
    let mut run: Vec<(String, Vec<Value>)> = Vec::new();
    let flush = |run: &mut Vec<(String, Vec<Value>)>, out: &mut Vec<Value>| {
        run.sort_by(|a, b| a.0.cmp(&b.0));
        out.extend(run.drain(..).flat_map(|(_, events)| events));
    };
    for (id, tool, events) in lanes {
        match (id, tool) {
            (Some(id), true) => {
                let key = Value::Array(events.clone()).to_string().replace(&json!(id).to_string(), "\"\"");
                run.push((key, events));
            }
            _ => {
                flush(&mut run, &mut out);
                out.extend(events);
            }
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Streaming text: `item/agentMessage/delta`, `item/reasoning/summaryTextDelta`, `command/exec/outputDelta`...
fn is_delta(method: &str) -> bool {
    method.ends_with("Delta") || method.ends_with("/delta")
}

/// The agent's side of an app-server transcript, one stream per turn and one for the thread (see the module's
/// documentation), and the working directories the client named.
pub fn frontend_streams(text: &str) -> (Vec<Stream>, Vec<String>) {
    let mut segments: Vec<(String, Segment)> = vec![("frontend/setup".into(), Segment::default())];
    let mut current = 0;
    let mut cwds: Vec<String> = Vec::new();
    // The client's requests by id (as JSON text): the method, to name what a response answers, and the segment it
    // was sent in, where its response belongs whenever it comes.
    let mut requests: HashMap<String, (String, usize)> = HashMap::new();
    // Turn ids by the segment in which they first appeared: a turn's late messages stay with it.
    let mut turns: HashMap<String, usize> = HashMap::new();
    let mut thread = Segment::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(line) = serde_json::from_str::<Value>(line) else {
            segments[current].1.messages.push(json!({"malformed": line}));
            continue;
        };
        if let Some(turn) = line.get("action").and(line.get("turn")) {
            let id = format!("frontend/turn-{turn}");
            current = match segments.iter().position(|(s, _)| *s == id) {
                Some(i) => i,
                None => {
                    segments.push((id, Segment::default()));
                    segments.len() - 1
                }
            };
            continue;
        }
        let from = line.get("from").and_then(Value::as_str);
        if from == Some("agent")
            && let Some(malformed) = line.get("malformed")
        {
            segments[current].1.messages.push(json!({"malformed": malformed}));
            continue;
        }
        let Some(message) = line.get("message") else {
            continue;
        };
        match from {
            Some("agent") if message.get("method").is_none() && message.get("id").is_some() => {
                let request = message.get("id").and_then(|id| requests.get(&id.to_string()));
                let segment = request.map_or(current, |(_, segment)| *segment);
                let answered = request.map(|(method, _)| method.clone());
                segments[segment].1.responses.push(json!({"request": answered, "response": message}));
            }
            Some("agent") => match turn_id(message) {
                Some(turn) => {
                    let segment = *turns.entry(turn).or_insert(current);
                    segments[segment].1.notification(message.clone());
                }
                None => thread.thread_level(message.clone()),
            },
            Some("client") => {
                if let (Some(id), Some(method)) = (message.get("id"), message.get("method").and_then(Value::as_str)) {
                    requests.insert(id.to_string(), (method.to_string(), current));
                }
                if let Some(cwd) = message.pointer("/params/cwd").and_then(Value::as_str)
                    && !cwds.iter().any(|c| c == cwd)
                {
                    cwds.push(cwd.to_string());
                }
            }
            _ => {}
        }
    }
    let mut streams: Vec<Stream> = segments
        .into_iter()
        .filter(|(id, segment)| id != "frontend/setup" || !segment.is_empty())
        .map(|(id, segment)| segment.finish(id))
        .collect();
    if !thread.ambient.is_empty() {
        let ambient: Map<String, Value> = thread.ambient.into_iter().map(|(k, v)| (k, Value::Array(v))).collect();
        streams.push(Stream {
            id: "frontend/thread".into(),
            file: "frontend.jsonl".into(),
            label: "app-server thread notifications".into(),
            root: vec![("ambient".into(), Value::Object(ambient))],
        });
    }
    (streams, cwds)
}

/// The turn a message is about: `params.turnId`, or the id of `params.turn`.
fn turn_id(message: &Value) -> Option<String> {
    let params = message.get("params")?;
    let id = params.get("turnId").or_else(|| params.get("turn").and_then(|t| t.get("id")))?;
    Some(id.as_str().map_or_else(|| id.to_string(), str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(values: &[Value]) -> String {
        values.iter().map(|v| format!("{v}\n")).collect()
    }

    fn root(stream: &Stream) -> Value {
        Value::Object(stream.root.iter().cloned().collect())
    }

    #[test]
    fn exec_events_are_json_lines_and_other_lines_stay_text() {
        assert_eq!(
            exec_events("{\"type\":\"turn.started\"}\n\nnot json\n"),
            [json!({"type": "turn.started"}), json!("not json")]
        );
    }

    #[test]
    fn the_transcript_is_split_by_turn_keeps_the_agents_side_and_orders_by_meaning() {
        let text = lines(&[
            json!({"t_ms": 0.5, "from": "client", "message": {"id": 1, "method": "initialize", "params": {}}}),
            json!({"t_ms": 1.0, "from": "agent", "message": {"id": 1, "result": {"userAgent": "x"}}}),
            json!({"t_ms": 1.5, "from": "client", "message": {"id": 2, "method": "thread/start", "params": {"cwd": "/w/ws"}}}),
            json!({"t_ms": 2.5, "action": "turn", "turn": 1}),
            json!({"t_ms": 2.6, "from": "agent", "message": {"method": "thread/started", "params": {"thread": {"id": "t"}}}}),
            json!({"t_ms": 3.0, "from": "client", "message": {"id": 3, "method": "turn/start", "params": {}}}),
            json!({"t_ms": 3.1, "from": "agent", "message": {"method": "turn/started", "params": {"turn": {"id": "u1"}}}}),
            json!({"t_ms": 3.2, "from": "agent", "message": {"id": 3, "result": {}}}),
            json!({"t_ms": 3.3, "from": "agent", "message": {"method": "item/started", "params": {"turnId": "u1", "item": {"id": "m"}}}}),
            json!({"t_ms": 3.4, "from": "agent", "message": {"method": "item/agentMessage/delta", "params": {"turnId": "u1", "itemId": "m", "delta": "Hel"}}}),
            json!({"t_ms": 3.5, "from": "agent", "message": {"method": "account/rateLimits/updated", "params": {"n": 1}}}),
            json!({"t_ms": 3.6, "from": "agent", "message": {"method": "item/agentMessage/delta", "params": {"turnId": "u1", "itemId": "m", "delta": "lo"}}}),
            json!({"t_ms": 3.7, "from": "agent", "message": {"method": "item/completed", "params": {"turnId": "u1", "item": {"id": "m", "text": "Hello"}}}}),
            json!({"t_ms": 3.8, "from": "agent", "malformed": "{oops"}),
            json!({"t_ms": 3.85, "action": "turn", "turn": 2}),
            json!({"t_ms": 3.9, "from": "agent", "message": {"method": "turn/completed", "params": {"turn": {"id": "u1"}}}}),
        ]);
        let (streams, cwds) = frontend_streams(&text);
        assert_eq!(cwds, ["/w/ws"]);
        let ids: Vec<&str> = streams.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["frontend/setup", "frontend/turn-1", "frontend/turn-2", "frontend/thread"]);
        assert_eq!(
            root(&streams[0]),
            json!({
                "messages": [],
                "responses": [{"request": "initialize", "response": {"id": 1, "result": {"userAgent": "x"}}}],
                "ambient": {},
            })
        );
        assert_eq!(
            root(&streams[1]),
            json!({
                "messages": [
                    {"method": "turn/started", "params": {"turn": {"id": "u1"}}},
                    {"method": "item/started", "params": {"turnId": "u1", "item": {"id": "m"}}},
                    {"method": "item/agentMessage/delta", "params": {"turnId": "u1", "itemId": "m", "delta": "Hello"}},
                    {"method": "item/completed", "params": {"turnId": "u1", "item": {"id": "m", "text": "Hello"}}},
                    {"malformed": "{oops"},
                    {"method": "turn/completed", "params": {"turn": {"id": "u1"}}},
                ],
                "responses": [{"request": "turn/start", "response": {"id": 3, "result": {}}}],
                "ambient": {},
            }),
            "a turn's late message stays with its turn"
        );
        assert_eq!(root(&streams[2]), json!({"messages": [], "responses": [], "ambient": {}}));
        assert_eq!(
            root(&streams[3]),
            json!({"ambient": {"account/rateLimits/updated": [{"n": 1}], "thread/started": [{"thread": {"id": "t"}}]}})
        );
    }

    #[test]
    fn deltas_cut_differently_and_racing_notifications_give_the_same_document() {
        let a = lines(&[
            json!({"action": "turn", "turn": 1}),
            json!({"from": "agent", "message": {"method": "thread/started", "params": {}}}),
            json!({"from": "agent", "message": {"method": "item/agentMessage/delta", "params": {"turnId": "u", "itemId": "c", "delta": "a\nb\n"}}}),
            json!({"from": "agent", "message": {"method": "item/commandExecution/outputDelta", "params": {"turnId": "u", "itemId": "x", "delta": "out"}}}),
            json!({"from": "agent", "message": {"method": "thread/tokenUsage/updated", "params": {"turnId": "u", "t": 1}}}),
            json!({"from": "agent", "message": {"method": "item/completed", "params": {"turnId": "u", "item": {"id": "c"}}}}),
        ]);
        let b = lines(&[
            json!({"from": "agent", "message": {"method": "thread/started", "params": {}}}),
            json!({"action": "turn", "turn": 1}),
            json!({"from": "agent", "message": {"method": "thread/tokenUsage/updated", "params": {"turnId": "u", "t": 1}}}),
            json!({"from": "agent", "message": {"method": "item/agentMessage/delta", "params": {"turnId": "u", "itemId": "c", "delta": "a\n"}}}),
            json!({"from": "agent", "message": {"method": "item/agentMessage/delta", "params": {"turnId": "u", "itemId": "c", "delta": "b\n"}}}),
            json!({"from": "agent", "message": {"method": "item/completed", "params": {"turnId": "u", "item": {"id": "c"}}}}),
        ]);
        assert_eq!(frontend_streams(&a).0, frontend_streams(&b).0);
    }

    #[test]
    fn tools_called_together_compare_in_any_order_and_model_items_in_theirs() {
        let item = |id: &str, ty: &str, text: &str| json!({"type": "item.completed", "item": {"id": id, "type": ty, "text": text}});
        let started = |id: &str, ty: &str, text: &str| json!({"type": "item.started", "item": {"id": id, "type": ty, "text": text}});
        let run = |first: &str, second: &str| {
            by_lane(
                vec![
                    json!({"type": "turn.started"}),
                    started("item_0", "command_execution", first),
                    item("item_0", "command_execution", first),
                    started("item_1", "command_execution", second),
                    item("item_1", "command_execution", second),
                    item("item_2", "agent_message", "done"),
                ],
                exec_lane,
            )
        };
        let (a, b) = (run("cat a", "cat b"), run("cat b", "cat a"));
        let texts = |events: &[Value]| events.iter().map(|e| e["item"]["text"].clone()).collect::<Vec<_>>();
        assert_eq!(texts(&a), texts(&b));
        assert_eq!(
            texts(&a),
            [Value::Null, json!("cat a"), json!("cat a"), json!("cat b"), json!("cat b"), json!("done")]
        );
        let messages = |first: &str, second: &str| {
            by_lane(vec![item("item_0", "agent_message", first), item("item_1", "agent_message", second)], exec_lane)
        };
        assert_ne!(texts(&messages("x", "y")), texts(&messages("y", "x")), "the model's items keep their order");
    }

    #[test]
    fn the_scenario_directory_is_found_from_its_captures() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("captures")).unwrap();
        assert_eq!(EventLog::dir_of(&dir.path().join("captures")), None, "no run.json: not a scenario");
        std::fs::write(dir.path().join("run.json"), "{}").unwrap();
        std::fs::create_dir_all(dir.path().join("turn-2")).unwrap();
        std::fs::create_dir_all(dir.path().join("turn-10")).unwrap();
        std::fs::write(dir.path().join("turn-2/events.jsonl"), "{\"type\":\"turn.started\"}\n").unwrap();
        std::fs::write(dir.path().join("turn-10/events.jsonl"), "").unwrap();
        assert_eq!(EventLog::dir_of(&dir.path().join("captures")).as_deref(), Some(dir.path()));
        let log = EventLog::beside(dir.path()).unwrap();
        let ids: Vec<&str> = log.streams.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["events/turn-2", "events/turn-10"], "turns in numeric order");
        assert_eq!(log.streams[0].file, "turn-2/events.jsonl");
    }
}
