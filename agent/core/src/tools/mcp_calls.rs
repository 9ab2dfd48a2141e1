//! The model's calls of MCP tools and of the resource tools, run against the session's servers
//! ([`crate::mcp::McpServers`]), with their `mcp_tool_call` items.

use std::time::Instant;

use serde_json::{Map, Value, json};

use super::{CallKind, ToolCall, ToolOutput, ToolRuntime};
use crate::config::ApprovalPolicy;
use crate::events::{ErrorMessage, Event, Item, ItemDetails, Status};
use crate::interaction::{ApprovalDecision, ApprovalKind};
use crate::mcp::{self, CallOutcome};

/// The resource tools, offered whenever a server is configured.
pub(super) const RESOURCE_TOOLS: [&str; 3] = ["list_mcp_resources", "list_mcp_resource_templates", "read_mcp_resource"];

/// What upstream's resource tools and tool calls name as the server of a listing over every server.
const LISTING_SERVER: &str = "codex";
/// What the model reads when the person declined an MCP tool's call (app-mcp-approval).
const MCP_CALL_REJECTED: &str = "user rejected MCP tool call";
/// What the model reads when the person cancelled the approval of an MCP tool's call (esc in upstream's interface,
/// tui-mcp-approval): unlike a command's cancel, the turn goes on.
const MCP_CALL_CANCELLED: &str = "user cancelled MCP tool call";

impl ToolRuntime {
    /// The answer to `call` if it is an MCP tool's or a resource tool's, else `None`.
    pub(super) async fn mcp_call(&self, call: &ToolCall) -> Option<Vec<Value>> {
        if call.kind != CallKind::Function || self.mcp.is_empty() {
            return None;
        }
        if RESOURCE_TOOLS.contains(&call.name.as_str()) {
            return Some(vec![call.output(ToolOutput::Text(self.resource_call(call).await))]);
        }
        if !call.name.starts_with(mcp::NAMESPACE_PREFIX) {
            return None;
        }
        let (server, tool) = self.mcp.resolve(&call.name).await?;
        let started = Instant::now();
        let arguments = match parse_arguments(&call.payload) {
            Ok(arguments) => arguments,
            // Unreadable arguments are told to the model, and shown as no item, as upstream does.
            Err(message) => {
                let outcome = CallOutcome::Error(format!("err: {message}"));
                return Some(vec![call.output(ToolOutput::Content(content(&outcome, started, self.original_detail)))]);
            }
        };
        let shown_arguments = arguments.clone().map(Value::Object).unwrap_or(Value::Null);
        let read_only_hint = self.mcp.read_only_hint(&server, &tool).await;
        let shown = ShownCall {
            id: self.events.item_id(),
            call_id: &call.call_id,
            server: &server,
            tool: &tool,
            arguments: &shown_arguments,
            read_only_hint,
        };
        let item = |result, error, status| shown.item(result, error, status);
        self.events.emit(Event::ItemStarted { item: item(None, None, Status::InProgress) });
        let outcome = if self.mcp.needs_approval(&server, &tool).await {
            match self.approvals.policy() {
                ApprovalPolicy::Never => {
                    CallOutcome::Error("MCP tool call requires approval, but approval policy is never".into())
                }
                // Only a frontend that can show the question is asked (the app server, the interface).
                _ if !self.approvals.asker.interaction().mcp_approvals => CallOutcome::Error(
                    "MCP tool call requires approval, and rcodex cannot ask for MCP approvals here yet (set \
                     approval_mode = \"approve\" for this tool to let it run)"
                        .into(),
                ),
                _ => {
                    let (description, annotations) = self.mcp.tool_details(&server, &tool).await;
                    let kind = ApprovalKind::McpTool {
                        server: server.clone(),
                        tool: tool.clone(),
                        description,
                        annotations,
                        arguments: shown_arguments.clone(),
                    };
                    // "Allow for this session" lets the same tool of the same server run unasked afterwards.
                    let remembered = [format!("mcp:{server}/{tool}")];
                    let decision = if self.approvals.approved.all(&remembered) {
                        ApprovalDecision::Accept
                    } else {
                        self.approvals.asker.approval(&call.call_id, kind).await
                    };
                    match decision {
                        ApprovalDecision::AcceptForSession => {
                            self.approvals.approved.insert(remembered);
                            self.mcp.call(&server, &tool, arguments).await
                        }
                        decision if decision.approves() => self.mcp.call(&server, &tool, arguments).await,
                        ApprovalDecision::Cancel => CallOutcome::Error(MCP_CALL_CANCELLED.into()),
                        _ => CallOutcome::Error(MCP_CALL_REJECTED.into()),
                    }
                }
            }
        } else {
            self.mcp.call(&server, &tool, arguments).await
        };
        let completed = match &outcome {
            CallOutcome::Result(result) => {
                let status = if mcp::is_error(result) { Status::Failed } else { Status::Completed };
                item(Some(mcp::item_result(result)), None, status)
            }
            CallOutcome::Error(message) => item(None, Some(message.clone()), Status::Failed),
        };
        self.events.emit(Event::ItemCompleted { item: completed });
        Some(vec![call.output(output_of(&outcome, started, self.original_detail))])
    }

    /// A resource tool's answer: JSON text, or the failure's text. A call naming a server that is not configured is
    /// answered without an item, as upstream answers it.
    async fn resource_call(&self, call: &ToolCall) -> String {
        let arguments: Value =
            match serde_json::from_str(if call.payload.trim().is_empty() { "{}" } else { &call.payload }) {
                Ok(value) => value,
                Err(e) => return format!("failed to parse function arguments: {e}"),
            };
        let read = call.name == "read_mcp_resource";
        let named = if read {
            match serde_json::from_value::<mcp::ReadArgs>(arguments.clone()) {
                Ok(args) => Some(args.server),
                Err(e) => return format!("failed to parse function arguments: {e}"),
            }
        } else {
            match serde_json::from_value::<mcp::ListArgs>(arguments.clone()) {
                Ok(args) => args.server,
                Err(e) => return format!("failed to parse function arguments: {e}"),
            }
        };
        if let Some(name) = named.as_deref().filter(|name| !self.mcp.knows(name)) {
            return format!("unknown MCP server '{name}'");
        }
        let server = named.unwrap_or_else(|| LISTING_SERVER.to_string());
        let shown = ShownCall {
            id: self.events.item_id(),
            call_id: &call.call_id,
            server: &server,
            tool: &call.name,
            arguments: &arguments,
            read_only_hint: None,
        };
        let item = |result, error, status| shown.item(result, error, status);
        self.events.emit(Event::ItemStarted { item: item(None, None, Status::InProgress) });
        let answer = if read {
            let args: mcp::ReadArgs = serde_json::from_value(arguments.clone()).expect("read above");
            self.mcp.read_resource(&args.server, &args.uri).await
        } else {
            let args: mcp::ListArgs = serde_json::from_value(arguments.clone()).expect("read above");
            let templates = call.name == "list_mcp_resource_templates";
            self.mcp.list_resources(args.server.as_deref(), args.cursor, templates).await
        };
        let completed = match &answer {
            Ok(text) => item(
                Some(json!({"content": [{"type": "text", "text": text}], "structured_content": null})),
                None,
                Status::Completed,
            ),
            Err(message) => item(None, Some(message.clone()), Status::Failed),
        };
        self.events.emit(Event::ItemCompleted { item: completed });
        answer.unwrap_or_else(|e| e)
    }
}

/// The arguments of an MCP call: none for an empty string, else a JSON object.
fn parse_arguments(payload: &str) -> Result<Option<Map<String, Value>>, String> {
    if payload.trim().is_empty() {
        return Ok(None);
    }
    match serde_json::from_str::<Value>(payload).map_err(|e| e.to_string())? {
        Value::Object(map) => Ok(Some(map)),
        Value::Null => Ok(None),
        other => Err(format!("invalid type: {}, expected a map", kind_of(&other))),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "sequence",
        _ => "value",
    }
}

fn content(outcome: &CallOutcome, started: Instant, original_detail: bool) -> Vec<Value> {
    match mcp::model_output(outcome, started, original_detail) {
        Value::Array(items) => items,
        other => vec![json!({"type": "input_text", "text": other.as_str().unwrap_or_default()})],
    }
}

fn output_of(outcome: &CallOutcome, started: Instant, original_detail: bool) -> ToolOutput {
    match mcp::model_output(outcome, started, original_detail) {
        Value::String(text) => ToolOutput::Text(text),
        Value::Array(items) => ToolOutput::Content(items),
        other => ToolOutput::Text(other.to_string()),
    }
}

impl ToolRuntime {
    /// The MCP servers' namespaces, for `tool_search`.
    pub(super) async fn mcp_deferred_tools(&self) -> Vec<Value> {
        let template = self.pack.text(rcodex_prompt_pack::keys::MCP_NAMESPACE_DESCRIPTION);
        self.mcp
            .deferred_tools(|namespace| {
                template
                    .and_then(|t| rcodex_prompt_pack::render(t, &[("namespace", namespace)]).ok())
                    .unwrap_or_default()
            })
            .await
    }
}

/// An MCP call as its `mcp_tool_call` item shows it, at each step.
struct ShownCall<'a> {
    id: String,
    call_id: &'a str,
    server: &'a str,
    tool: &'a str,
    arguments: &'a Value,
    read_only_hint: Option<bool>,
}

impl ShownCall<'_> {
    fn item(&self, result: Option<Value>, error: Option<String>, status: Status) -> Item {
        let details = ItemDetails::McpToolCall {
            server: self.server.to_string(),
            tool: self.tool.to_string(),
            arguments: self.arguments.clone(),
            result,
            error: error.map(|message| ErrorMessage { message }),
            status,
            read_only_hint: self.read_only_hint,
        };
        Item::new(self.id.clone(), details).with_source(self.call_id.to_string())
    }
}
