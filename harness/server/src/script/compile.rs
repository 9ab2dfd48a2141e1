//! Turning a step into a plan: the realistic Responses stream a model would send (created, items added, deltas,
//! items done, completed with usage), with ids that agree across events and are the same on every run.

use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::model::{CustomToolCall, Failure, FunctionCall, Hold, Message, OutputItem, Reasoning, Step, Usage};
use crate::plan::{Action, HoldPoint, Plan};

/// `created_at` of every scripted response: fixed, so that scripted streams are identical run to run.
const CREATED_AT: u64 = 1_767_225_600;
/// How long a hold waits before giving up, unless the step says otherwise.
pub const DEFAULT_HOLD_TIMEOUT_MS: u64 = 120_000;
/// Text is streamed a word at a time, but never in more deltas than this.
const MAX_DELTAS: usize = 64;

/// Where a step is being answered: ids derive from the session and step, the model echoes the request's.
#[derive(Debug, Clone, Copy)]
pub struct StepContext<'a> {
    pub session: u32,
    /// 1-based.
    pub step: u32,
    /// How many times the session used this step before (a `repeat` step answers again and again); 0 the first
    /// time.
    pub round: u32,
    pub model: &'a str,
}

impl StepContext<'_> {
    /// A deterministic id: `<prefix>_<32 hex digits>` derived from the session, step, round and item. The first
    /// round leaves the round out, so that ids stay what they were before steps could repeat.
    fn id(&self, prefix: &str, item: usize) -> String {
        let seed = match self.round {
            0 => format!("parity/{}/{}/{item}/{prefix}", self.session, self.step),
            round => format!("parity/{}/{}/r{round}/{item}/{prefix}", self.session, self.step),
        };
        let digest = Sha256::digest(seed);
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!("{prefix}_{hex}")
    }
}

/// Compiles a step into a plan, or says why it cannot be (a hold or disconnect before an event the step never
/// sends).
pub fn compile(step: &Step, cx: &StepContext) -> Result<Plan, String> {
    if let Some(Failure::Http(h)) = &step.fail {
        let mut plan = match &h.body {
            Some(Value::String(text)) => Plan {
                status: h.status,
                headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
                body: crate::plan::PlanBody::Text(text.clone()),
            },
            Some(body) => Plan::json(h.status, body.clone()),
            None => Plan::json(h.status, default_http_error(h.status)),
        };
        if let Some(retry_after) = &h.retry_after {
            let value = retry_after.as_str().map(str::to_string).unwrap_or_else(|| retry_after.to_string());
            plan.headers.push(("retry-after".into(), value));
        }
        plan.headers.extend(h.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
        plan.headers.extend(step.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
        return Ok(plan);
    }
    if let Some(Failure::RefuseUpgrade(r)) = &step.fail {
        let mut plan = match &r.body {
            Some(Value::String(text)) => Plan {
                status: r.status,
                headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
                body: crate::plan::PlanBody::Text(text.clone()),
            },
            Some(body) => Plan::json(r.status, body.clone()),
            None => Plan::error(
                r.status,
                "parity_websocket_refused",
                "parity: this script refuses the WebSocket upgrade; use HTTPS",
            ),
        };
        plan.headers.extend(r.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
        plan.headers.extend(step.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
        return Ok(plan);
    }

    let mut actions = match &step.events {
        Some(events) => events.iter().map(|e| send(e.clone())).collect(),
        None => StreamWriter::new(cx, step).write(),
    };
    if let Some(Failure::Disconnect(d)) = &step.fail {
        let before = d.before.as_deref().unwrap_or("response.completed");
        let at =
            position_of(&actions, before).ok_or_else(|| no_such_event("fail.disconnect.before", before, &actions))?;
        actions.truncate(at);
        actions.push(Action::Disconnect);
    }
    if let Some(Failure::Close(c)) = &step.fail {
        let before = c.before.as_deref().unwrap_or("response.completed");
        let at = position_of(&actions, before).ok_or_else(|| no_such_event("fail.close.before", before, &actions))?;
        actions.truncate(at);
        actions.push(Action::Close { code: c.code, reason: c.reason.clone() });
    }
    if let Some(hold) = &step.hold {
        let before = hold.before.as_deref().unwrap_or("response.completed");
        let at = position_of(&actions, before).ok_or_else(|| no_such_event("hold.before", before, &actions))?;
        let name = hold.name.clone().unwrap_or_else(|| hold_base_name(step, cx.step));
        actions.insert(at, Action::Hold(hold_point(hold, name, before)));
    }
    name_inline_holds(&mut actions, &hold_base_name(step, cx.step));
    let mut actions = with_delays(actions, step.delay_ms, step.start_delay_ms);
    if actions.is_empty() {
        // A stream of nothing would look like a hang to some clients; an empty raw step still ends cleanly.
        actions.push(Action::Disconnect);
    }
    let mut plan = Plan::stream(actions);
    plan.headers.extend(step.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(plan)
}

fn send(data: Value) -> Action {
    let event = data.get("type").and_then(Value::as_str).map(str::to_string);
    Action::Send { event, data }
}

fn position_of(actions: &[Action], event_type: &str) -> Option<usize> {
    actions.iter().position(
        |a| matches!(a, Action::Send { data, .. } if data.get("type").and_then(Value::as_str) == Some(event_type)),
    )
}

fn no_such_event(field: &str, wanted: &str, actions: &[Action]) -> String {
    let sent: Vec<String> = Plan::stream(actions.to_vec()).event_types();
    format!("{field} \"{wanted}\" matches no event of the step (it sends: {})", sent.join(", "))
}

fn hold_point(hold: &Hold, name: String, before: &str) -> HoldPoint {
    HoldPoint {
        name,
        before: before.to_string(),
        until: hold.until,
        timeout: Duration::from_millis(hold.timeout_ms.unwrap_or(DEFAULT_HOLD_TIMEOUT_MS)),
    }
}

/// What an unnamed hold of a step is called: the step's `name` (as docs/scripts.md promises), else `step-N`.
fn hold_base_name(step: &Step, index: u32) -> String {
    step.name.clone().unwrap_or_else(|| format!("step-{index}"))
}

/// Holds placed in `output` learn what they stand before, and get a name when they have none: `base`, then
/// `base.2`, `base.3`... so that each can be released on its own.
fn name_inline_holds(actions: &mut [Action], base: &str) {
    let mut count = 0;
    for i in 0..actions.len() {
        if let Action::Hold(point) = &actions[i] {
            count += 1;
            if !point.before.is_empty() {
                continue;
            }
            let next = actions[i + 1..].iter().find_map(|a| match a {
                Action::Send { data, .. } => data.get("type").and_then(Value::as_str).map(str::to_string),
                _ => None,
            });
            let name = if count == 1 { base.to_string() } else { format!("{base}.{count}") };
            if let Action::Hold(point) = &mut actions[i] {
                point.before = next.unwrap_or_else(|| "end of stream".into());
                if point.name.is_empty() {
                    point.name = name;
                }
            }
        }
    }
}

fn with_delays(actions: Vec<Action>, delay_ms: Option<u64>, start_delay_ms: Option<u64>) -> Vec<Action> {
    let mut out = Vec::with_capacity(actions.len() * 2 + 1);
    if let Some(ms) = start_delay_ms.filter(|ms| *ms > 0) {
        out.push(Action::Sleep(Duration::from_millis(ms)));
    }
    let between = delay_ms.filter(|ms| *ms > 0).map(Duration::from_millis);
    let mut sent_any = false;
    for action in actions {
        if let (Action::Send { .. }, Some(d), true) = (&action, between, sent_any) {
            out.push(Action::Sleep(d));
        }
        sent_any |= matches!(action, Action::Send { .. });
        out.push(action);
    }
    out
}

fn default_http_error(status: u16) -> Value {
    let (kind, message) = match status {
        429 => ("rate_limit_exceeded", "Rate limit reached (injected by parity)."),
        400..=499 => ("invalid_request_error", "The request was rejected (injected by parity)."),
        _ => ("server_error", "The server had an error while processing your request (injected by parity)."),
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
}

/// Writes the events of a shorthand step.
struct StreamWriter<'a> {
    cx: &'a StepContext<'a>,
    step: &'a Step,
    actions: Vec<Action>,
    sequence: u64,
    output_index: usize,
    done_items: Vec<Value>,
}

impl<'a> StreamWriter<'a> {
    fn new(cx: &'a StepContext<'a>, step: &'a Step) -> Self {
        StreamWriter { cx, step, actions: Vec::new(), sequence: 0, output_index: 0, done_items: Vec::new() }
    }

    fn response_id(&self) -> String {
        self.step.response_id.clone().unwrap_or_else(|| self.cx.id("resp", 0))
    }

    fn event(&mut self, event_type: &str, mut fields: Value) {
        let map = fields.as_object_mut().expect("events are objects");
        let mut data = serde_json::Map::with_capacity(map.len() + 2);
        data.insert("type".into(), json!(event_type));
        data.insert("sequence_number".into(), json!(self.sequence));
        data.append(map);
        self.sequence += 1;
        self.actions.push(Action::Send { event: Some(event_type.to_string()), data: Value::Object(data) });
    }

    fn response(&self, status: &str) -> Value {
        json!({
            "id": self.response_id(),
            "object": "response",
            "created_at": CREATED_AT,
            "status": status,
            "model": self.cx.model,
            "output": self.done_items,
        })
    }

    fn write(mut self) -> Vec<Action> {
        let created = self.response("in_progress");
        self.event("response.created", json!({ "response": created }));
        for (i, item) in self.step.output.iter().enumerate() {
            match item {
                OutputItem::Message(m) => self.message(i, m),
                OutputItem::FunctionCall(c) => self.function_call(i, c),
                OutputItem::CustomToolCall(c) => self.custom_tool_call(i, c),
                OutputItem::Reasoning(r) => self.reasoning(i, r),
                OutputItem::Item(raw) => self.raw_item(raw.clone()),
                OutputItem::Event(raw) => self.actions.push(send(raw.clone())),
                OutputItem::DelayMs(ms) => self.actions.push(Action::Sleep(Duration::from_millis(*ms))),
                // Named and pointed at the next event once the whole stream is written.
                OutputItem::Hold(h) => {
                    self.actions.push(Action::Hold(hold_point(h, h.name.clone().unwrap_or_default(), "")))
                }
            }
        }
        match &self.step.fail {
            Some(Failure::ResponseFailed(f)) => {
                let mut response = self.response("failed");
                response["error"] = json!({"code": f.code, "message": f.message});
                self.event("response.failed", json!({ "response": response }));
            }
            _ => {
                let usage = usage_json(self.step.usage.unwrap_or_default());
                let mut response = self.response("completed");
                response["usage"] = usage;
                self.event("response.completed", json!({ "response": response }));
            }
        }
        self.actions
    }

    fn item_added(&mut self, item: Value) {
        let index = self.output_index;
        self.event("response.output_item.added", json!({"output_index": index, "item": item}));
    }

    fn item_done(&mut self, item: Value) {
        let index = self.output_index;
        self.event("response.output_item.done", json!({"output_index": index, "item": item.clone()}));
        self.done_items.push(item);
        self.output_index += 1;
    }

    fn message(&mut self, i: usize, m: &Message) {
        let id = m.id.clone().unwrap_or_else(|| self.cx.id("msg", i));
        let index = self.output_index;
        let mut added =
            json!({"id": id, "type": "message", "status": "in_progress", "content": [], "role": "assistant"});
        if let Some(phase) = &m.phase {
            added["phase"] = json!(phase);
        }
        self.item_added(added.clone());
        let empty_part = json!({"type": "output_text", "annotations": [], "logprobs": [], "text": ""});
        self.event(
            "response.content_part.added",
            json!({"item_id": id, "output_index": index, "content_index": 0, "part": empty_part}),
        );
        for delta in deltas(&m.text) {
            self.event(
                "response.output_text.delta",
                json!({"item_id": id, "output_index": index, "content_index": 0, "delta": delta, "logprobs": []}),
            );
            if let Some(ms) = m.delta_delay_ms {
                self.actions.push(Action::Sleep(Duration::from_millis(ms)));
            }
        }
        self.event(
            "response.output_text.done",
            json!({"item_id": id, "output_index": index, "content_index": 0, "text": m.text, "logprobs": []}),
        );
        let part = json!({"type": "output_text", "annotations": [], "logprobs": [], "text": m.text});
        self.event(
            "response.content_part.done",
            json!({"item_id": id, "output_index": index, "content_index": 0, "part": part.clone()}),
        );
        let mut done = added;
        done["status"] = json!("completed");
        done["content"] = json!([part]);
        self.item_done(done);
    }

    fn function_call(&mut self, i: usize, c: &FunctionCall) {
        let id = c.id.clone().unwrap_or_else(|| self.cx.id("fc", i));
        let call_id = c.call_id.clone().unwrap_or_else(|| self.cx.id("call", i));
        let arguments = match &c.arguments {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let index = self.output_index;
        let mut item = json!({"id": id, "type": "function_call", "status": "in_progress", "arguments": "", "call_id": call_id, "name": c.name});
        if let Some(ns) = &c.namespace {
            item["namespace"] = json!(ns);
        }
        self.item_added(item.clone());
        for delta in deltas(&arguments) {
            self.event(
                "response.function_call_arguments.delta",
                json!({"item_id": id, "output_index": index, "delta": delta}),
            );
        }
        self.event(
            "response.function_call_arguments.done",
            json!({"item_id": id, "output_index": index, "arguments": arguments}),
        );
        item["status"] = json!("completed");
        item["arguments"] = json!(arguments);
        self.item_done(item);
    }

    fn custom_tool_call(&mut self, i: usize, c: &CustomToolCall) {
        let id = c.id.clone().unwrap_or_else(|| self.cx.id("ctc", i));
        let call_id = c.call_id.clone().unwrap_or_else(|| self.cx.id("call", i));
        let index = self.output_index;
        let mut item = json!({"id": id, "type": "custom_tool_call", "status": "in_progress", "call_id": call_id, "input": "", "name": c.name});
        self.item_added(item.clone());
        for delta in deltas(&c.input) {
            self.event(
                "response.custom_tool_call_input.delta",
                json!({"item_id": id, "output_index": index, "delta": delta}),
            );
        }
        self.event(
            "response.custom_tool_call_input.done",
            json!({"item_id": id, "output_index": index, "input": c.input}),
        );
        item["status"] = json!("completed");
        item["input"] = json!(c.input);
        self.item_done(item);
    }

    fn reasoning(&mut self, i: usize, r: &Reasoning) {
        let id = r.id.clone().unwrap_or_else(|| self.cx.id("rs", i));
        let encrypted = r.encrypted_content.clone().unwrap_or_else(|| {
            let digest = Sha256::digest(format!("parity/encrypted/{}/{}/{i}", self.cx.session, self.cx.step));
            format!("gAAAAAB{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
        });
        let index = self.output_index;
        self.item_added(json!({"id": id, "type": "reasoning", "summary": [], "encrypted_content": encrypted}));
        for (s, text) in r.summary.iter().enumerate() {
            let empty = json!({"type": "summary_text", "text": ""});
            self.event(
                "response.reasoning_summary_part.added",
                json!({"item_id": id, "output_index": index, "summary_index": s, "part": empty}),
            );
            for delta in deltas(text) {
                self.event(
                    "response.reasoning_summary_text.delta",
                    json!({"item_id": id, "output_index": index, "summary_index": s, "delta": delta}),
                );
            }
            self.event(
                "response.reasoning_summary_text.done",
                json!({"item_id": id, "output_index": index, "summary_index": s, "text": text}),
            );
            let part = json!({"type": "summary_text", "text": text});
            self.event(
                "response.reasoning_summary_part.done",
                json!({"item_id": id, "output_index": index, "summary_index": s, "part": part}),
            );
        }
        for (c, text) in r.content.iter().enumerate() {
            for delta in deltas(text) {
                self.event(
                    "response.reasoning_text.delta",
                    json!({"item_id": id, "output_index": index, "content_index": c, "delta": delta}),
                );
            }
            self.event(
                "response.reasoning_text.done",
                json!({"item_id": id, "output_index": index, "content_index": c, "text": text}),
            );
        }
        let summary: Vec<Value> = r.summary.iter().map(|t| json!({"type": "summary_text", "text": t})).collect();
        let mut done = json!({"id": id, "type": "reasoning", "summary": summary});
        if !r.content.is_empty() {
            done["content"] = r.content.iter().map(|t| json!({"type": "reasoning_text", "text": t})).collect();
        }
        done["encrypted_content"] = json!(encrypted);
        self.item_done(done);
    }

    fn raw_item(&mut self, item: Value) {
        self.item_added(item.clone());
        self.item_done(item);
    }
}

fn usage_json(u: Usage) -> Value {
    json!({
        "input_tokens": u.input_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_tokens},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": u.input_tokens.saturating_add(u.output_tokens),
    })
}

/// Splits text into word-sized deltas (each word with the whitespace after it), at most [`MAX_DELTAS`] of them.
fn deltas(text: &str) -> Vec<String> {
    let mut words: Vec<&str> = Vec::new();
    let mut start = 0;
    let mut in_space = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            in_space = true;
        } else if in_space {
            words.push(&text[start..i]);
            start = i;
            in_space = false;
        }
    }
    if start < text.len() {
        words.push(&text[start..]);
    }
    let per_delta = words.len().div_ceil(MAX_DELTAS).max(1);
    words.chunks(per_delta).map(|c| c.concat()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::PlanBody;

    fn cx() -> StepContext<'static> {
        StepContext { session: 1, step: 2, round: 0, model: "gpt-test" }
    }

    fn sends(plan: &Plan) -> Vec<Value> {
        match &plan.body {
            PlanBody::Stream(actions) => actions
                .iter()
                .filter_map(|a| match a {
                    Action::Send { data, .. } => Some(data.clone()),
                    _ => None,
                })
                .collect(),
            _ => panic!("not a stream"),
        }
    }

    #[test]
    fn a_slow_message_pauses_after_each_delta() {
        let message = Message { text: "one two three".into(), delta_delay_ms: Some(20), ..Default::default() };
        let plan = compile(&Step::reply().then_item(OutputItem::Message(message)), &cx()).unwrap();
        let PlanBody::Stream(actions) = &plan.body else { panic!("not a stream") };
        let after_deltas: Vec<bool> = actions
            .windows(2)
            .filter(|w| matches!(&w[0], Action::Send { event: Some(e), .. } if e == "response.output_text.delta"))
            .map(|w| matches!(w[1], Action::Sleep(d) if d == Duration::from_millis(20)))
            .collect();
        assert_eq!(after_deltas, [true, true, true]);
    }

    #[test]
    fn message_stream_is_realistic_and_consistent() {
        let plan = compile(&Step::message("Hello there, world"), &cx()).unwrap();
        assert_eq!(
            plan.event_types(),
            [
                "response.created",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        let events = sends(&plan);
        let deltas: String = events.iter().filter_map(|e| e.get("delta").and_then(Value::as_str)).collect();
        assert_eq!(deltas, "Hello there, world");
        let item_id = events[1]["item"]["id"].as_str().unwrap();
        assert!(item_id.starts_with("msg_"));
        assert!(events[2..9].iter().all(|e| e["item_id"] == item_id || e["item"]["id"] == item_id));
        let completed = events.last().unwrap();
        assert_eq!(completed["response"]["id"], events[0]["response"]["id"]);
        assert_eq!(completed["response"]["output"][0], events[8]["item"]);
        assert_eq!(completed["response"]["usage"]["total_tokens"], 1230);
        assert_eq!(completed["response"]["model"], "gpt-test");
        let numbers: Vec<u64> = events.iter().map(|e| e["sequence_number"].as_u64().unwrap()).collect();
        assert_eq!(numbers, (0..events.len() as u64).collect::<Vec<_>>());
    }

    #[test]
    fn ids_are_deterministic_per_session_and_step() {
        let a = sends(&compile(&Step::function_call("f", json!({"x": 1})), &cx()).unwrap());
        let b = sends(&compile(&Step::function_call("f", json!({"x": 1})), &cx()).unwrap());
        assert_eq!(a, b);
        let other = StepContext { session: 2, ..cx() };
        let c = sends(&compile(&Step::function_call("f", json!({"x": 1})), &other).unwrap());
        assert_ne!(a[1]["item"]["call_id"], c[1]["item"]["call_id"]);
        assert_eq!(a.last().unwrap()["response"]["output"][0]["arguments"], "{\"x\":1}");
    }

    #[test]
    fn tool_calls_and_reasoning_carry_their_fields() {
        let step = Step::reasoning("thinking")
            .then_custom_tool_call("apply_patch", "*** Begin Patch\n*** End Patch\n")
            .call_id("c9")
            .then_function_call("exec_command", json!("{not json"));
        let events = sends(&compile(&step, &cx()).unwrap());
        let done: Vec<&Value> =
            events.iter().filter(|e| e["type"] == "response.output_item.done").map(|e| &e["item"]).collect();
        assert_eq!(done[0]["type"], "reasoning");
        assert_eq!(done[0]["summary"][0]["text"], "thinking");
        assert!(done[0]["encrypted_content"].as_str().unwrap().starts_with("gAAAA"));
        assert_eq!(done[1]["call_id"], "c9");
        assert_eq!(done[1]["input"], "*** Begin Patch\n*** End Patch\n");
        assert_eq!(done[2]["arguments"], "{not json", "string arguments are sent verbatim");
        assert_eq!(
            done.iter().map(|d| (*d).clone()).collect::<Vec<_>>(),
            events.last().unwrap()["response"]["output"].as_array().unwrap().clone()
        );
    }

    #[test]
    fn failures_delays_and_holds_shape_the_plan() {
        let plan = compile(&Step::http_error(503).retry_after(7), &cx()).unwrap();
        assert_eq!(plan.status, 503);
        assert!(plan.headers.contains(&("retry-after".into(), "7".into())));

        let failed = compile(&Step::failed("rate_limit_exceeded", "slow down"), &cx()).unwrap();
        let last = sends(&failed).pop().unwrap();
        assert_eq!(last["type"], "response.failed");
        assert_eq!(last["response"]["error"]["code"], "rate_limit_exceeded");

        let cut = compile(&Step::message("hi").disconnect_before("response.completed"), &cx()).unwrap();
        let PlanBody::Stream(actions) = &cut.body else { panic!() };
        assert_eq!(actions.last(), Some(&Action::Disconnect));
        assert!(!cut.event_types().contains(&"response.completed".to_string()));

        let held = compile(&Step::message("hi").delay_ms(10).hold_before("response.completed"), &cx()).unwrap();
        let PlanBody::Stream(actions) = &held.body else { panic!() };
        let hold_at = actions.iter().position(|a| matches!(a, Action::Hold(_))).unwrap();
        assert!(matches!(&actions[hold_at + 2], Action::Send { event: Some(e), .. } if e == "response.completed"));
        assert!(matches!(&actions[hold_at], Action::Hold(h) if h.name == "step-2"));
        let sleeps = actions.iter().filter(|a| matches!(a, Action::Sleep(_))).count();
        assert_eq!(sleeps, held.event_types().len() - 1);
    }

    #[test]
    fn inline_holds_learn_their_position() {
        let step = Step::reasoning("r").then_item(OutputItem::Hold(Hold::default())).then_message("m");
        let PlanBody::Stream(actions) = compile(&step, &cx()).unwrap().body else { panic!() };
        let hold = actions.iter().find_map(|a| if let Action::Hold(h) = a { Some(h.clone()) } else { None }).unwrap();
        assert_eq!(hold.before, "response.output_item.added");
        assert_eq!(hold.name, "step-2");
    }

    #[test]
    fn an_unnamed_hold_takes_the_name_of_its_step() {
        let hold_names = |step: &Step| -> Vec<String> {
            let PlanBody::Stream(actions) = compile(step, &cx()).unwrap().body else { panic!() };
            actions.iter().filter_map(|a| if let Action::Hold(h) = a { Some(h.name.clone()) } else { None }).collect()
        };
        let named = Step::message("m").name("steer here").hold_before("response.completed");
        assert_eq!(hold_names(&named), ["steer here"]);
        let own = Step::message("m").name("steer here").hold(Hold::named("own").before("response.completed"));
        assert_eq!(hold_names(&own), ["own"], "a hold's own name wins");
        let inline = Step::reasoning("r")
            .name("think")
            .then_item(OutputItem::Hold(Hold::default()))
            .then_message("m")
            .then_item(OutputItem::Hold(Hold::default()));
        assert_eq!(hold_names(&inline), ["think", "think.2"]);
        let unnamed = Step::reasoning("r").then_item(OutputItem::Hold(Hold::default())).then_message("m");
        assert_eq!(hold_names(&unnamed), ["step-2"], "without a step name, step-N as before");
    }

    #[test]
    fn deltas_cover_the_text_and_stay_bounded() {
        assert_eq!(deltas("a b  c"), ["a ", "b  ", "c"]);
        assert!(deltas("").is_empty());
        let long = "word ".repeat(1000);
        let d = deltas(&long);
        assert!(d.len() <= MAX_DELTAS);
        assert_eq!(d.concat(), long);
    }
}
