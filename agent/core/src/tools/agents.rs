//! The multi-agent tools (`multi_agent_v1`): arguments and outputs as upstream's, each call shown as a collab item.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::ToolCall;
use crate::agents::{AgentStatus, Agents, DEFAULT_EFFORT, Overrides};
use crate::events::{Event, EventSink, Item, ItemDetails, Status, UserInput, input_text};

/// The tools of the `multi_agent_v1` namespace.
const NAMES: &[&str] = &["spawn_agent", "send_input", "wait_agent", "close_agent", "resume_agent"];
const NAMESPACE: &str = "multi_agent_v1";

/// The multi-agent tool a call names, with or without its namespace before it.
pub fn tool_name(name: &str) -> Option<&'static str> {
    let name = name.strip_prefix(NAMESPACE).unwrap_or(name);
    NAMES.iter().copied().find(|n| *n == name)
}

const DEFAULT_WAIT_MS: i64 = 30_000;
const MIN_WAIT_MS: i64 = 10_000;
const MAX_WAIT_MS: i64 = 3_600_000;

/// A collab item as it starts and as it ends.
struct CollabItem<'a> {
    events: &'a EventSink,
    id: String,
    call_id: String,
    tool: &'static str,
    sender: String,
    prompt: Option<String>,
    /// A spawn's model and reasoning effort: as asked while it starts, as given once it has ended.
    model: Option<(String, String)>,
}

impl CollabItem<'_> {
    fn details(&self, receivers: Vec<String>, states: Map<String, Value>, status: Status) -> ItemDetails {
        ItemDetails::CollabToolCall {
            tool: self.tool.to_string(),
            sender_thread_id: self.sender.clone(),
            receiver_thread_ids: receivers,
            prompt: self.prompt.clone(),
            agents_states: states,
            status,
            model: self.model.as_ref().map(|(model, _)| model.clone()),
            reasoning_effort: self.model.as_ref().map(|(_, effort)| effort.clone()),
        }
    }

    fn start(&self, receivers: Vec<String>) {
        let details = self.details(receivers, Map::new(), Status::InProgress);
        self.events.emit(Event::ItemStarted { item: Item::new(self.id.clone(), details).with_source(&self.call_id) });
    }

    fn complete(&self, states: &[(String, AgentStatus)]) {
        let receivers = states.iter().map(|(id, _)| id.clone()).collect();
        let failed = states.iter().any(|(_, s)| matches!(s, AgentStatus::Errored(_) | AgentStatus::NotFound));
        let status = if failed || states.is_empty() { Status::Failed } else { Status::Completed };
        let states = states.iter().map(|(id, s)| (id.clone(), s.exec_state())).collect();
        let details = self.details(receivers, states, status);
        self.events.emit(Event::ItemCompleted { item: Item::new(self.id.clone(), details).with_source(&self.call_id) });
    }
}

#[derive(Deserialize)]
struct SpawnArgs {
    message: Option<String>,
    items: Option<Vec<Value>>,
    model: Option<String>,
    reasoning_effort: Option<String>,
    fork_context: Option<bool>,
}

#[derive(Deserialize)]
struct SendArgs {
    target: String,
    message: Option<String>,
    items: Option<Vec<Value>>,
    #[serde(default)]
    interrupt: bool,
}

#[derive(Deserialize)]
struct WaitArgs {
    targets: Vec<String>,
    timeout_ms: Option<i64>,
}

#[derive(Deserialize)]
struct CloseArgs {
    target: String,
}

#[derive(Deserialize)]
struct ResumeArgs {
    id: String,
}

/// Runs one multi-agent call; the text is the output for the model.
pub async fn call(agents: &Agents, tool: &str, call: &ToolCall, events: &EventSink) -> String {
    answer(agents, tool, call, events).await.unwrap_or_else(|refusal| refusal)
}

/// The call's output, or the text the model gets instead when the call is refused or fails.
async fn answer(agents: &Agents, tool: &str, call: &ToolCall, events: &EventSink) -> Result<String, String> {
    let item = |tool: &'static str, prompt: Option<String>| CollabItem {
        events,
        id: events.item_id(),
        call_id: call.call_id.clone(),
        tool,
        sender: agents.parent_thread_id().to_string(),
        prompt,
        model: None,
    };
    match tool {
        "spawn_agent" => {
            let args: SpawnArgs = arguments(&call.payload)?;
            let input = input_of(args.message, args.items)?;
            let mut item = item("spawn_agent", Some(input_text(&input)));
            let asked_effort = args.reasoning_effort.clone().unwrap_or_else(|| DEFAULT_EFFORT.to_string());
            item.model = Some((args.model.clone().unwrap_or_default(), asked_effort));
            item.start(Vec::new());
            let overrides = Overrides { model: args.model, reasoning_effort: args.reasoning_effort };
            match agents.spawn(input, &overrides, args.fork_context == Some(true)) {
                Ok((id, nickname)) => {
                    let (model, effort) = agents.child_model();
                    item.model = Some((overrides.model.unwrap_or(model), overrides.reasoning_effort.unwrap_or(effort)));
                    item.complete(&[(id.clone(), AgentStatus::PendingInit)]);
                    Ok(json!({"agent_id": id, "nickname": nickname}).to_string())
                }
                Err(e) => {
                    item.complete(&[]);
                    Err(e)
                }
            }
        }
        "send_input" => {
            let args: SendArgs = arguments(&call.payload)?;
            let input = input_of(args.message, args.items)?;
            agent_id(&args.target)?;
            let item = item("send_input", Some(input_text(&input)));
            item.start(vec![args.target.clone()]);
            // The item shows the child as the input reached it (its new turn has not begun).
            let sent = agents.send_input(&args.target, input, args.interrupt).await;
            let reached = sent.as_ref().map_or_else(|_| agents.status(&args.target), |(_, status)| status.clone());
            item.complete(&[(args.target, reached)]);
            Ok(json!({"submission_id": sent?.0}).to_string())
        }
        "wait_agent" => {
            let args: WaitArgs = arguments(&call.payload)?;
            if args.targets.is_empty() {
                return Err("agent ids must be non-empty".to_string());
            }
            for target in &args.targets {
                agent_id(target)?;
            }
            let timeout = match args.timeout_ms.unwrap_or(DEFAULT_WAIT_MS) {
                ms if ms <= 0 => return Err("timeout_ms must be greater than zero".to_string()),
                ms => ms.clamp(MIN_WAIT_MS, MAX_WAIT_MS),
            };
            let item = item("wait", None);
            item.start(args.targets.clone());
            let statuses = agents.wait(&args.targets, Duration::from_millis(timeout as u64)).await;
            item.complete(&statuses);
            let status: Map<String, Value> =
                statuses.iter().map(|(id, s)| (id.clone(), serde_json::to_value(s).expect("status"))).collect();
            Ok(json!({"status": status, "timed_out": statuses.is_empty()}).to_string())
        }
        "close_agent" => {
            let args: CloseArgs = arguments(&call.payload)?;
            agent_id(&args.target)?;
            let item = item("close_agent", None);
            item.start(vec![args.target.clone()]);
            let closed = agents.close(&args.target).await;
            // The item shows the status the child had before it was closed.
            let shown = closed.clone().unwrap_or(AgentStatus::NotFound);
            item.complete(&[(args.target, shown)]);
            Ok(json!({"previous_status": closed?}).to_string())
        }
        "resume_agent" => {
            let args: ResumeArgs = arguments(&call.payload)?;
            agent_id(&args.id)?;
            // Upstream's exec shows a resume as a wait.
            let item = item("wait", None);
            item.start(vec![args.id.clone()]);
            let resumed = agents.resume(&args.id);
            item.complete(&[(args.id.clone(), agents.status(&args.id))]);
            Ok(json!({"status": resumed?}).to_string())
        }
        other => Err(format!("unsupported call: {other}")),
    }
}

/// A call's arguments, or upstream's words for arguments that do not read.
/// Whether a call spawns a child from the parent's history (`fork_context`): the session hands its history over
/// before the call runs ([`Agents::note_history`]).
pub fn forks_context(call: &ToolCall) -> bool {
    tool_name(&call.name) == Some("spawn_agent")
        && arguments::<SpawnArgs>(&call.payload).is_ok_and(|args| args.fork_context == Some(true))
}

fn arguments<T: serde::de::DeserializeOwned>(payload: &str) -> Result<T, String> {
    serde_json::from_str(payload).map_err(|e| format!("failed to parse function arguments: {e}"))
}

/// An agent id must be a thread id (a UUID); otherwise upstream's answer, in its UUID parser's words. That parser
/// (an older release of the `uuid` crate) counts a bad character's position from 1 (`not-an-id` fails at `index: 1`,
/// recorded in `subagent-errors`); this one counts from 0.
fn agent_id(target: &str) -> Result<uuid::Uuid, String> {
    uuid::Uuid::parse_str(target).map_err(|e| {
        let words = format!("{e:?}");
        let words = match words.split_once("index: ") {
            Some((before, after)) => {
                let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
                let index = digits.parse::<usize>().map_or(digits.clone(), |i| (i + 1).to_string());
                format!("{before}index: {index}{}", &after[digits.len()..])
            }
            None => words,
        };
        format!("invalid agent id {target}: {words}")
    })
}

/// The child's input: the message, or the structured items (text and images).
fn input_of(message: Option<String>, items: Option<Vec<Value>>) -> Result<Vec<UserInput>, String> {
    match (message, items) {
        (Some(_), Some(_)) => Err("Provide either message or items, but not both".to_string()),
        (Some(message), None) if message.trim().is_empty() => {
            Err("Empty message can't be sent to an agent".to_string())
        }
        (Some(message), None) => Ok(vec![UserInput::Text { text: message }]),
        (None, Some(items)) => {
            let input: Vec<UserInput> = items
                .iter()
                .filter_map(|item| match item.get("type").and_then(Value::as_str) {
                    Some("text") => Some(UserInput::Text { text: item.get("text")?.as_str()?.to_string() }),
                    Some("image") => Some(UserInput::Image { url: item.get("image_url")?.as_str()?.to_string() }),
                    Some("local_image") => Some(UserInput::LocalImage { path: item.get("path")?.as_str()?.into() }),
                    _ => None,
                })
                .collect();
            if input.is_empty() { Err("Items can't be empty".to_string()) } else { Ok(input) }
        }
        (None, None) => Err("Provide one of: message or items".to_string()),
    }
}
