//! What a script is made of, in its serde form (JSON or TOML on disk) and as a builder in code.
//!
//! A [`Script`] is a list of [`Step`]s; each step answers one `POST /v1/responses`, in order. A step either lists
//! output items in shorthand ([`OutputItem`]), from which the server writes a realistic event stream, or gives the
//! raw events to send. Around that: expectations on the request, delays, a hold, an injected failure.

use std::collections::BTreeMap;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What the server answers, request by request.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Script {
    /// The steps every session runs, unless `sessions` gives it its own.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    /// Scripts of their own for sessions in order of first arrival: the first session to arrive runs
    /// `sessions[0]`, the second `sessions[1]`; later sessions run `steps`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<SessionScript>,
    /// The model ids `GET /v1/models` lists; a plausible default list when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// Seeded faults (`chaos = "SEED[:RATE]"`, see [`crate::chaos`]); `parity serve --chaos` overrides it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chaos: Option<crate::chaos::Chaos>,
}

impl Script {
    /// No step at all, for any session: every request is answered past the end.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && self.sessions.iter().all(|s| s.steps.is_empty())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionScript {
    #[serde(default)]
    pub steps: Vec<Step>,
}

/// The answer to one model request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// A name for reports and for the hold it may define.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Which requests this step answers, by content: a request satisfying it takes this step wherever the step
    /// stands in the script. Steps without it answer, in order, the requests no matching step claims.
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub matching: Option<Match>,
    /// A step with `match` that answers every request it matches, not only the first (side requests such as title
    /// generation, which may come any number of times).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub repeat: bool,
    /// A step a run may leave unused without failing verification (see `ParityServer::verify`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    /// Checks on the incoming request; a request that fails one is answered 400 naming it.
    #[serde(default, skip_serializing_if = "Expect::is_empty")]
    pub expect: Expect,
    /// Values taken from the request, by name: a regular expression searched in the text of the `input` items,
    /// newest first, whose first group (or whole match) is the value; or only in the output of one call
    /// ([`Extraction::call_id`]). `{{name}}` in the step's output is replaced by it; a string that is exactly
    /// `{{name}}` becomes a number when the value is one. This is how a script answers with what only the agent
    /// knows, such as the session id an `exec_command` output gave.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extract: BTreeMap<String, Extraction>,
    /// Output items in shorthand, streamed in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<OutputItem>,
    /// Raw stream events, sent as they are (instead of `output`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<Value>>,
    /// Token usage reported in `response.completed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The response id; derived from the session and step when absent, so runs are reproducible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    /// Milliseconds to wait between consecutive events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Milliseconds to wait after the response headers, before the first event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_delay_ms: Option<u64>,
    /// Stop before an event until released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
    /// An injected failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail: Option<Failure>,
    /// Extra response headers (rate-limit headers, `x-codex-turn-state`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// One output item in shorthand, or a directive placed between items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OutputItem {
    /// An assistant message: `{"message": "text"}` or `{"message": {"text": ..., "phase": ...}}`.
    Message(#[serde(deserialize_with = "text_or_struct")] Message),
    /// A function tool call: `{"function_call": {"name": "exec_command", "arguments": {"cmd": "ls"}}}`.
    FunctionCall(FunctionCall),
    /// A freeform tool call: `{"custom_tool_call": {"name": "apply_patch", "input": "*** Begin Patch..."}}`.
    CustomToolCall(CustomToolCall),
    /// A reasoning item: `{"reasoning": "summary"}` or `{"reasoning": {"summary": [...], "encrypted_content": ...}}`.
    Reasoning(#[serde(deserialize_with = "text_or_struct")] Reasoning),
    /// Any output item as raw JSON, streamed as `output_item.added` then `output_item.done`.
    Item(Value),
    /// One raw event, sent at this point.
    Event(Value),
    /// A pause at this point, in milliseconds.
    DelayMs(u64),
    /// A hold at this point (its `before` must be absent: the position says where).
    Hold(Hold),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    pub text: String,
    /// `commentary` or `final_answer`, as newer models send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A pause after each `output_text.delta`: an answer that streams as slowly as a model writes (for steer and
    /// interface timing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_delay_ms: Option<u64>,
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Message { text, ..Default::default() }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionCall {
    pub name: String,
    /// A JSON object (serialized compactly) or a string sent verbatim, malformed JSON included.
    #[serde(default = "empty_object")]
    pub arguments: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

fn empty_object() -> Value {
    json!({})
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomToolCall {
    pub name: String,
    pub input: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reasoning {
    /// Summary parts; a single string is one part.
    #[serde(default, deserialize_with = "one_or_many")]
    pub summary: Vec<String>,
    /// Raw reasoning text parts (`content`), which some models stream.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "one_or_many")]
    pub content: Vec<String>,
    /// Opaque content the client must send back; a deterministic placeholder when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl From<String> for Reasoning {
    fn from(summary: String) -> Self {
        Reasoning { summary: vec![summary], ..Default::default() }
    }
}

/// Token counts for `response.completed`; unspecified counts take the defaults below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    #[serde(default = "Usage::default_input")]
    pub input_tokens: u64,
    #[serde(default)]
    pub cached_tokens: u64,
    #[serde(default = "Usage::default_output")]
    pub output_tokens: u64,
    #[serde(default)]
    pub reasoning_tokens: u64,
}

impl Usage {
    /// No tokens at all: what a warm-up reports.
    pub fn zero() -> Self {
        Usage { input_tokens: 0, cached_tokens: 0, output_tokens: 0, reasoning_tokens: 0 }
    }

    fn default_input() -> u64 {
        1200
    }
    fn default_output() -> u64 {
        30
    }
}

impl Default for Usage {
    fn default() -> Self {
        Usage {
            input_tokens: Self::default_input(),
            cached_tokens: 0,
            output_tokens: Self::default_output(),
            reasoning_tokens: 0,
        }
    }
}

/// Checks on the incoming request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The text of the last `input` item contains this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_input_contains: Option<String>,
    /// Some `input` item's text contains this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_contains: Option<String>,
    /// A `function_call_output` (or `custom_tool_call_output`, or `tool_search_output`) for each of these call ids is in `input`.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "one_or_many")]
    pub function_call_output: Vec<String>,
    /// Headers with exactly these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The request's `model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

impl Expect {
    pub fn is_empty(&self) -> bool {
        *self == Expect::default()
    }
}

/// Which requests a step answers. Every condition given must hold; an empty `Match` is refused at load, since it
/// would claim every request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// The `originator` header has exactly this value (`codex_exec`, `codex_cli_rs`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub originator: Option<String>,
    /// The text of the last `input` item contains this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_input_contains: Option<String>,
    /// Some `input` item's text contains this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_contains: Option<String>,
    /// A tool output for each of these call ids is in `input`.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "one_or_many")]
    pub function_call_output: Vec<String>,
    /// Headers with exactly these values (`header` or `headers`).
    #[serde(default, alias = "headers", skip_serializing_if = "BTreeMap::is_empty")]
    pub header: BTreeMap<String, String>,
    /// The request's `model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

impl Match {
    pub fn is_empty(&self) -> bool {
        *self == Match::default()
    }

    /// Requests whose `originator` header is this.
    pub fn originator(value: impl Into<String>) -> Self {
        Match { originator: Some(value.into()), ..Default::default() }
    }

    /// Requests with this header value.
    pub fn header(name: impl Into<String>, value: impl Into<String>) -> Self {
        Match { header: [(name.into(), value.into())].into(), ..Default::default() }
    }

    /// Requests whose last `input` item's text contains this.
    pub fn last_input_contains(text: impl Into<String>) -> Self {
        Match { last_input_contains: Some(text.into()), ..Default::default() }
    }

    /// Requests with an `input` item whose text contains this.
    pub fn input_contains(text: impl Into<String>) -> Self {
        Match { input_contains: Some(text.into()), ..Default::default() }
    }

    /// Requests that carry a tool output for this call id.
    pub fn function_call_output(call_id: impl Into<String>) -> Self {
        Match { function_call_output: vec![call_id.into()], ..Default::default() }
    }

    /// Requests for this model.
    pub fn model(model: impl Into<String>) -> Self {
        Match { model: Some(model.into()), ..Default::default() }
    }

    /// Both this and `other` must hold (`other`'s value wins where both set the same condition).
    pub fn and(mut self, other: Match) -> Self {
        self.originator = other.originator.or(self.originator);
        self.last_input_contains = other.last_input_contains.or(self.last_input_contains);
        self.input_contains = other.input_contains.or(self.input_contains);
        self.function_call_output.extend(other.function_call_output);
        self.header.extend(other.header);
        self.model = other.model.or(self.model);
        self
    }

    /// The same conditions as expectations, so that one checker gives both their verdicts.
    pub fn as_expect(&self) -> Expect {
        let mut headers = self.header.clone();
        if let Some(originator) = &self.originator {
            headers.insert("originator".into(), originator.clone());
        }
        Expect {
            last_input_contains: self.last_input_contains.clone(),
            input_contains: self.input_contains.clone(),
            function_call_output: self.function_call_output.clone(),
            headers,
            model: self.model.clone(),
        }
    }
}

/// Stop streaming before an event until something lets the stream go on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    /// The event type to stop before (its first occurrence); `response.completed` when absent. Only at step level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// What releases the hold.
    #[serde(default)]
    pub until: Until,
    /// The name the control API and the library release it by; when absent, the step's `name`, else `step-N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Give up holding after this long and go on streaming (default 120 000 ms), so that no run hangs forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Until {
    /// Released through the control API or the library, or when the next request of the session arrives.
    #[default]
    Either,
    /// Only released through the control API or the library.
    Release,
    /// Only released when the next request of the same session arrives.
    NextRequest,
}

/// An injected failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Failure {
    /// Answer with an HTTP error status instead of a stream.
    Http(HttpFailure),
    /// End the stream with `response.failed` instead of `response.completed`.
    ResponseFailed(ResponseFailed),
    /// Cut the connection before an event (`response.completed` when `before` is absent). Over WebSocket the
    /// socket is dropped without a close frame.
    Disconnect(Disconnect),
    /// WebSocket only: send a close frame (a code and a reason) before an event (`response.completed` when `before`
    /// is absent), ending the connection. Over HTTP it cuts the connection as `disconnect` does.
    Close(CloseFrame),
    /// WebSocket only: answer the upgrade of a Responses WebSocket connection with an HTTP status instead of 101,
    /// so that the agent falls back to HTTPS. The step is used by the upgrade request; the agent's HTTP requests
    /// take the next steps.
    RefuseUpgrade(RefuseUpgrade),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseFrame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// The close code (1011, internal error, when absent).
    #[serde(default = "CloseFrame::default_code")]
    pub code: u16,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

impl CloseFrame {
    fn default_code() -> u16 {
        1011
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefuseUpgrade {
    /// The status answered instead of 101 (426, upgrade required, when absent).
    #[serde(default = "RefuseUpgrade::default_status")]
    pub status: u16,
    /// The body: JSON, or a string sent as text. An OpenAI-style error object when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

impl RefuseUpgrade {
    fn default_status() -> u16 {
        426
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpFailure {
    pub status: u16,
    /// The body: JSON, or a string sent as text. An OpenAI-style error object when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// The `Retry-After` header: seconds, or any string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseFailed {
    #[serde(default = "ResponseFailed::default_code")]
    pub code: String,
    #[serde(default = "ResponseFailed::default_message")]
    pub message: String,
}

impl ResponseFailed {
    fn default_code() -> String {
        "server_error".into()
    }
    fn default_message() -> String {
        "The server had an error while processing your request (injected by parity).".into()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disconnect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
}

// ---------------------------------------------------------------------------------------------------------------
// Deserialization helpers: shorthands that accept a string where a struct is allowed, and the two script forms.

/// Accepts `"text"` as well as the full struct.
fn text_or_struct<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + From<String>,
{
    struct TextOrStruct<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de> + From<String>> Visitor<'de> for TextOrStruct<T> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string or a table")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            Ok(T::from(v.to_string()))
        }
        fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<T, M::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }
    deserializer.deserialize_any(TextOrStruct(std::marker::PhantomData))
}

/// Accepts `"a"` as well as `["a", "b"]`.
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    struct OneOrMany;
    impl<'de> Visitor<'de> for OneOrMany {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string or a list of strings")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<Vec<String>, S::Error> {
            Vec::<String>::deserialize(de::value::SeqAccessDeserializer::new(seq))
        }
    }
    deserializer.deserialize_any(OneOrMany)
}

/// A script is either the readable form (a table with `steps`, `sessions`, `models`) or the lowest-level form: a
/// list whose elements are responses, each a list of raw events (or a step table).
impl<'de> Deserialize<'de> for Script {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Readable {
            #[serde(default)]
            steps: Vec<Step>,
            #[serde(default)]
            sessions: Vec<SessionScript>,
            #[serde(default)]
            models: Option<Vec<String>>,
            #[serde(default)]
            chaos: Option<crate::chaos::Chaos>,
        }

        /// One element of the list form.
        struct ListStep(Step);
        impl<'de> Deserialize<'de> for ListStep {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = ListStep;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("a list of raw events, or a step table")
                    }
                    fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<ListStep, S::Error> {
                        let events = Vec::<Value>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                        Ok(ListStep(Step { events: Some(events), ..Default::default() }))
                    }
                    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<ListStep, M::Error> {
                        Step::deserialize(de::value::MapAccessDeserializer::new(map)).map(ListStep)
                    }
                }
                deserializer.deserialize_any(V)
            }
        }

        struct ScriptVisitor;
        impl<'de> Visitor<'de> for ScriptVisitor {
            type Value = Script;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a table with `steps`, or a list of responses (each a list of raw events)")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<Script, S::Error> {
                let steps = Vec::<ListStep>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Script { steps: steps.into_iter().map(|s| s.0).collect(), ..Default::default() })
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Script, M::Error> {
                let r = Readable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Script { steps: r.steps, sessions: r.sessions, models: r.models, chaos: r.chaos })
            }
        }
        deserializer.deserialize_any(ScriptVisitor)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Builder API, in the style of wiremock-rs: small, chainable, Responses-aware.

impl Script {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a step every session runs.
    pub fn step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    /// Gives the next session (by order of first arrival) a script of its own.
    pub fn session(mut self, steps: impl IntoIterator<Item = Step>) -> Self {
        self.sessions.push(SessionScript { steps: steps.into_iter().collect() });
        self
    }

    pub fn models(mut self, models: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.models = Some(models.into_iter().map(Into::into).collect());
        self
    }
}

impl<I: IntoIterator<Item = Step>> From<I> for Script {
    fn from(steps: I) -> Self {
        Script { steps: steps.into_iter().collect(), ..Default::default() }
    }
}

impl Step {
    /// An empty response (created, then completed); add items with the methods below.
    pub fn reply() -> Self {
        Self::default()
    }

    /// A response with one assistant message.
    pub fn message(text: impl Into<String>) -> Self {
        Self::reply().then_message(text)
    }

    /// A response with one function call; its call id is derived unless set with [`Step::call_id`].
    pub fn function_call(name: impl Into<String>, arguments: Value) -> Self {
        Self::reply().then_function_call(name, arguments)
    }

    /// A response with one freeform tool call (e.g. `apply_patch` with the patch as input).
    pub fn custom_tool_call(name: impl Into<String>, input: impl Into<String>) -> Self {
        Self::reply().then_custom_tool_call(name, input)
    }

    /// A response with one reasoning item.
    pub fn reasoning(summary: impl Into<String>) -> Self {
        Self::reply().then_reasoning(summary)
    }

    /// A response made of these raw events, sent as they are.
    pub fn raw(events: impl IntoIterator<Item = Value>) -> Self {
        Step { events: Some(events.into_iter().collect()), ..Default::default() }
    }

    /// An HTTP error answer instead of a stream.
    pub fn http_error(status: u16) -> Self {
        Step { fail: Some(Failure::Http(HttpFailure { status, ..Default::default() })), ..Default::default() }
    }

    /// A stream that ends with `response.failed`.
    pub fn failed(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::reply().fail_with_response_failed(code, message)
    }

    pub fn then_message(mut self, text: impl Into<String>) -> Self {
        self.output.push(OutputItem::Message(Message::from(text.into())));
        self
    }

    pub fn then_function_call(mut self, name: impl Into<String>, arguments: Value) -> Self {
        self.output.push(OutputItem::FunctionCall(FunctionCall { name: name.into(), arguments, ..Default::default() }));
        self
    }

    pub fn then_custom_tool_call(mut self, name: impl Into<String>, input: impl Into<String>) -> Self {
        let call = CustomToolCall { name: name.into(), input: input.into(), ..Default::default() };
        self.output.push(OutputItem::CustomToolCall(call));
        self
    }

    pub fn then_reasoning(mut self, summary: impl Into<String>) -> Self {
        self.output.push(OutputItem::Reasoning(Reasoning::from(summary.into())));
        self
    }

    pub fn then_item(mut self, item: OutputItem) -> Self {
        self.output.push(item);
        self
    }

    pub fn then_delay_ms(mut self, ms: u64) -> Self {
        self.output.push(OutputItem::DelayMs(ms));
        self
    }

    /// Sets the call id of the last tool call added.
    pub fn call_id(mut self, call_id: impl Into<String>) -> Self {
        match self
            .output
            .iter_mut()
            .rev()
            .find(|i| matches!(i, OutputItem::FunctionCall(_) | OutputItem::CustomToolCall(_)))
        {
            Some(OutputItem::FunctionCall(c)) => c.call_id = Some(call_id.into()),
            Some(OutputItem::CustomToolCall(c)) => c.call_id = Some(call_id.into()),
            _ => panic!("Step::call_id: the step has no tool call yet"),
        }
        self
    }

    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Answers the requests that satisfy `m` (the first one, or each with [`Step::repeat`]) instead of taking the
    /// next request in order. Called again, both conditions must hold.
    pub fn matching(mut self, m: Match) -> Self {
        self.matching = Some(match self.matching.take() {
            Some(earlier) => earlier.and(m),
            None => m,
        });
        self
    }

    /// A matching step that answers every request it matches, however many come.
    pub fn repeat(mut self) -> Self {
        self.repeat = true;
        self
    }

    /// A step a run may leave unused: verification does not fail on it.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    pub fn usage(mut self, usage: Usage) -> Self {
        self.usage = Some(usage);
        self
    }

    pub fn delay_ms(mut self, ms: u64) -> Self {
        self.delay_ms = Some(ms);
        self
    }

    pub fn start_delay_ms(mut self, ms: u64) -> Self {
        self.start_delay_ms = Some(ms);
        self
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Holds before the first event of this type until released (control API, library, or the next request).
    pub fn hold_before(mut self, event_type: impl Into<String>) -> Self {
        self.hold = Some(Hold { before: Some(event_type.into()), ..Default::default() });
        self
    }

    /// Like [`Step::hold_before`], naming the hold and choosing what releases it.
    pub fn hold(mut self, hold: Hold) -> Self {
        self.hold = Some(hold);
        self
    }

    pub fn expect_last_input_contains(mut self, text: impl Into<String>) -> Self {
        self.expect.last_input_contains = Some(text.into());
        self
    }

    pub fn expect_input_contains(mut self, text: impl Into<String>) -> Self {
        self.expect.input_contains = Some(text.into());
        self
    }

    pub fn expect_function_call_output(mut self, call_id: impl Into<String>) -> Self {
        self.expect.function_call_output.push(call_id.into());
        self
    }

    pub fn expect_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.expect.headers.insert(name.into(), value.into());
        self
    }

    /// Takes a value from the request (see [`Step::extract`]) for `{{name}}` in the step's output.
    pub fn extract(mut self, name: impl Into<String>, pattern: impl Into<String>) -> Self {
        self.extract.insert(name.into(), Extraction { pattern: pattern.into(), call_id: None });
        self
    }

    /// Takes a value from the output of the call `call_id` only (see [`Extraction::call_id`]).
    pub fn extract_from_call(
        mut self,
        name: impl Into<String>,
        call_id: impl Into<String>,
        pattern: impl Into<String>,
    ) -> Self {
        self.extract.insert(name.into(), Extraction { pattern: pattern.into(), call_id: Some(call_id.into()) });
        self
    }

    pub fn expect_model(mut self, model: impl Into<String>) -> Self {
        self.expect.model = Some(model.into());
        self
    }

    /// Sets the body of an HTTP error step.
    pub fn body(mut self, body: Value) -> Self {
        self.http_failure_mut("body").body = Some(body);
        self
    }

    /// Sets the `Retry-After` of an HTTP error step, in seconds.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.http_failure_mut("retry_after").retry_after = Some(json!(seconds));
        self
    }

    fn http_failure_mut(&mut self, what: &str) -> &mut HttpFailure {
        match &mut self.fail {
            Some(Failure::Http(h)) => h,
            _ => panic!("Step::{what}: only an http_error step has an HTTP body or Retry-After"),
        }
    }

    pub fn fail_with_response_failed(mut self, code: impl Into<String>, message: impl Into<String>) -> Self {
        self.fail = Some(Failure::ResponseFailed(ResponseFailed { code: code.into(), message: message.into() }));
        self
    }

    /// Cuts the connection before the first event of this type.
    /// WebSocket: a close frame with this code instead of the event `before` and those after it.
    pub fn close_before(mut self, event_type: impl Into<String>, code: u16, reason: impl Into<String>) -> Self {
        self.fail = Some(Failure::Close(CloseFrame { before: Some(event_type.into()), code, reason: reason.into() }));
        self
    }

    /// A step that refuses a WebSocket upgrade with this status, so that the agent falls back to HTTPS.
    pub fn refuse_upgrade(status: u16) -> Self {
        Step {
            fail: Some(Failure::RefuseUpgrade(RefuseUpgrade { status, body: None, headers: BTreeMap::new() })),
            ..Default::default()
        }
    }

    pub fn disconnect_before(mut self, event_type: impl Into<String>) -> Self {
        self.fail = Some(Failure::Disconnect(Disconnect { before: Some(event_type.into()) }));
        self
    }
}

impl Hold {
    /// A hold released only by name through the control API or the library.
    pub fn named(name: impl Into<String>) -> Self {
        Hold { name: Some(name.into()), until: Until::Release, ..Default::default() }
    }

    pub fn before(mut self, event_type: impl Into<String>) -> Self {
        self.before = Some(event_type.into());
        self
    }

    pub fn until(mut self, until: Until) -> Self {
        self.until = until;
        self
    }

    pub fn timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = Some(ms);
        self
    }
}

/// Where a step finds one value: `"pattern"`, or `{ pattern = "...", call_id = "..." }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ExtractionForm {
    Pattern(String),
    Scoped { pattern: String, call_id: String },
}

/// A value a step takes from its request: a regular expression, searched newest first in the text of the
/// `input` items, or with `call_id` only in the output answering that call. Two outputs of the same shape (two
/// `spawn_agent` calls each giving an agent id) are told apart that way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "ExtractionForm")]
pub struct Extraction {
    pub pattern: String,
    pub call_id: Option<String>,
}

impl From<Extraction> for ExtractionForm {
    fn from(e: Extraction) -> Self {
        match e.call_id {
            None => ExtractionForm::Pattern(e.pattern),
            Some(call_id) => ExtractionForm::Scoped { pattern: e.pattern, call_id },
        }
    }
}

impl<'de> Deserialize<'de> for Extraction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Scoped {
            pattern: String,
            call_id: String,
        }
        struct Form;
        impl<'de> Visitor<'de> for Form {
            type Value = Extraction;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a regular expression, or a table with `pattern` and `call_id`")
            }
            fn visit_str<E: de::Error>(self, pattern: &str) -> Result<Extraction, E> {
                Ok(Extraction { pattern: pattern.to_string(), call_id: None })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Extraction, A::Error> {
                let scoped = Scoped::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Extraction { pattern: scoped.pattern, call_id: Some(scoped.call_id) })
            }
        }
        deserializer.deserialize_any(Form)
    }
}
