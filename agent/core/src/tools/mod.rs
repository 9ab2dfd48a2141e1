//! The tools: each tool call of the model goes to its handler, and comes back as the items upstream would send
//! (`function_call_output`, `custom_tool_call_output`, `tool_search_output`, sometimes one more). A tool the model
//! was not offered gets upstream's `unsupported call` answer.
//!
//! Calls of one response run at once where upstream runs them at once (commands, images, tool search); the others
//! (patches, goals, plans) run alone, as upstream's tool lock has them. Outputs go back in the order of the calls.

mod agents;
mod approval;
mod exec;
mod goals;
mod mcp_calls;
mod patch;
mod plan;
mod search;
mod view_image;

use std::collections::HashSet;
use std::path::PathBuf;

use rcodex_prompt_pack::Pack;
use serde_json::{Value, json};
use tokio::sync::RwLock;

use crate::config::Config;
use crate::events::EventSink;
use crate::interaction::{Asker, UserInputQuestion};
use crate::items;

/// A tool call of the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub call_id: String,
    pub name: String,
    pub kind: CallKind,
    /// The arguments (function, tool search) or input (custom), as sent.
    pub payload: String,
}

/// The three ways the model calls a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// `function_call`: JSON arguments in a string.
    Function,
    /// `custom_tool_call`: freeform input.
    Custom,
    /// `tool_search_call` run by the client: JSON arguments as an object.
    ToolSearch,
}

/// What a handler answers.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolOutput {
    /// Text for the model (also a failure's explanation: upstream words both the same way).
    Text(String),
    /// Content items, such as an image.
    Content(Vec<Value>),
    /// Tool definitions found by a tool search.
    Tools(Vec<Value>),
}

impl ToolCall {
    /// The call an output item asks for, if it is one the client runs.
    pub fn from_item(item: &Value) -> Option<ToolCall> {
        let text = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let (kind, name, payload) = match item.get("type").and_then(Value::as_str)? {
            // A namespaced tool's name is its namespace's followed by its own, as upstream joins them.
            "function_call" => {
                (CallKind::Function, format!("{}{}", text("namespace"), text("name")), text("arguments"))
            }
            "custom_tool_call" => (CallKind::Custom, text("name"), text("input")),
            "tool_search_call" if item.get("execution").and_then(Value::as_str) == Some("client") => {
                let arguments = item.get("arguments").cloned().unwrap_or(Value::Null);
                (CallKind::ToolSearch, "tool_search".to_string(), arguments.to_string())
            }
            _ => return None,
        };
        Some(ToolCall { call_id: text("call_id"), name, kind, payload })
    }

    /// The item answering this call.
    pub fn output(&self, output: ToolOutput) -> Value {
        let output = match output {
            ToolOutput::Text(text) => Value::String(text),
            ToolOutput::Content(items) => Value::Array(items),
            ToolOutput::Tools(tools) => {
                return json!({
                    "type": "tool_search_output",
                    "id": items::new_id("tso"),
                    "call_id": self.call_id,
                    "status": "completed",
                    "execution": "client",
                    "tools": tools,
                });
            }
        };
        match self.kind {
            CallKind::Custom => items::custom_tool_call_output(&self.call_id, output),
            CallKind::Function | CallKind::ToolSearch => items::function_call_output(&self.call_id, output),
        }
    }

    fn text(&self, text: impl Into<String>) -> Vec<Value> {
        vec![self.output(ToolOutput::Text(text.into()))]
    }
}

/// Where and how a session's tools run: its commands and their sessions, its sandbox, its goal and plan.
pub struct ToolRuntime {
    cwd: PathBuf,
    events: EventSink,
    /// Who is asked, under which policy, and what the session approved.
    approvals: approval::Approvals,
    pack: &'static Pack,
    /// The family whose deferred tools `tool_search` searches.
    family_slug: String,
    image_input: bool,
    exec: exec::Commands,
    patcher: patch::Patcher,
    goals: goals::Goals,
    plan: plan::Plan,
    /// Upstream's tool lock: tools that may run beside others take it shared, the rest alone.
    lock: RwLock<()>,
    /// The session's children, when it may spawn any (a child may not).
    agents: Option<std::sync::Arc<crate::agents::Agents>>,
    /// The configured MCP servers.
    mcp: std::sync::Arc<crate::mcp::McpServers>,
    /// The model takes images at their original detail (MCP images go so).
    original_detail: bool,
    /// `exec` and `wait`, for the models that have them.
    code_mode: crate::code_mode::CodeMode,
    /// The tools an `exec` script may call, for this model.
    nested: Vec<crate::code_mode::NestedTool>,
}

/// What a session tells its tool runtime.
pub struct RuntimeOptions<'a> {
    pub config: &'a Config,
    pub pack: &'static Pack,
    pub family_slug: String,
    /// The model takes images (`view_image` is refused otherwise).
    pub image_input: bool,
    pub thread_id: String,
    pub events: EventSink,
    /// The program that sets up the sandbox of a command (rcodex itself, see [`rcodex_sandbox::command_argv`]).
    pub sandbox_launcher: PathBuf,
    /// How tools ask the frontend (approvals, user input).
    pub asker: std::sync::Arc<Asker>,
    /// The session's children, when it may spawn any.
    pub agents: Option<std::sync::Arc<crate::agents::Agents>>,
}

impl ToolRuntime {
    /// Must be called within a tokio runtime: command events are forwarded by a task of their own.
    pub fn new(options: RuntimeOptions) -> ToolRuntime {
        let config = options.config;
        let policy = config.sandbox_policy();
        let mcp = crate::mcp::McpServers::new(&config.mcp_servers, config.cwd.clone());
        mcp.start_in_background(options.events.clone());
        let original_detail =
            options.pack.model(&options.family_slug).is_some_and(|m| m.supports_image_detail_original);
        ToolRuntime {
            code_mode: crate::code_mode::CodeMode::new(Some(options.sandbox_launcher.clone())),
            nested: nested_tools(options.pack, &options.family_slug),
            mcp,
            original_detail,
            cwd: config.cwd.clone(),
            approvals: approval::Approvals::new(options.asker, config.approval_policy),
            pack: options.pack,
            family_slug: options.family_slug,
            image_input: options.image_input,
            exec: exec::Commands::new(
                config,
                &options.thread_id,
                &options.pack.upstream_version,
                options.sandbox_launcher,
                options.events.clone(),
            ),
            patcher: patch::Patcher::new(policy.patch_policy(&config.cwd), options.events.clone()),
            goals: goals::Goals::new(&options.thread_id),
            plan: plan::Plan::default(),
            events: options.events,
            lock: RwLock::new(()),
            agents: options.agents,
        }
    }

    /// Takes a thread's new settings (a turn changed them): the working directory, the sandbox and approval
    /// policy, and the model's family for the model. The running commands, the session's approvals, the plan and
    /// the goals stay.
    pub fn reconfigure(&mut self, config: &Config, family_slug: String, image_input: bool, thread_id: &str) {
        self.cwd = config.cwd.clone();
        self.approvals.set_policy(config.approval_policy);
        self.nested = nested_tools(self.pack, &family_slug);
        self.family_slug = family_slug;
        self.image_input = image_input;
        self.exec.reconfigure(config, thread_id, &self.pack.upstream_version);
        self.patcher = patch::Patcher::new(config.sandbox_policy().patch_policy(&config.cwd), self.events.clone());
        if let Some(agents) = &self.agents {
            agents.reconfigure(config);
        }
    }

    /// Runs a call and returns the items answering it.
    pub async fn call(&self, call: &ToolCall, offered: &Tools) -> Vec<Value> {
        if call.kind == CallKind::ToolSearch {
            let _shared = self.lock.read().await;
            let mut deferred = self.mcp_deferred_tools().await;
            deferred.extend_from_slice(self.deferred_tools());
            return match search::tool_search(&deferred, &call.payload) {
                Ok(tools) => vec![call.output(ToolOutput::Tools(tools))],
                Err(search::SearchError::Refused(_)) => vec![call.output(ToolOutput::Tools(Vec::new()))],
                // Upstream answers nothing; the next request carries the synthetic output of a call without one.
                Err(search::SearchError::Unreadable(_)) => Vec::new(),
            };
        }
        if let Some(answer) = self.mcp_call(call).await {
            return answer;
        }
        // The multi-agent tools are deferred: offered through tool_search, never in the request's tools.
        if let (Some(agents), Some(tool), CallKind::Function) = (&self.agents, agents::tool_name(&call.name), call.kind)
        {
            let _shared = self.lock.read().await;
            return call.text(agents::call(agents, tool, call, &self.events).await);
        }
        if !offered.is_offered(&call.name) {
            return call.text(unsupported(call));
        }
        match (call.name.as_str(), call.kind) {
            // The script's own tool calls take the lock, each as its tool does.
            ("exec", CallKind::Custom) => {
                self.code_mode.exec(&call.call_id, &call.payload, &self.nested, &self.cwd, self).await
            }
            ("wait", CallKind::Function) => self.code_mode.wait(&call.call_id, &call.payload, &self.nested, self).await,
            _ => self.dispatch(call).await,
        }
    }

    /// Runs a call of one of the session's own tools, offered directly or reached from a code-mode script.
    async fn dispatch(&self, call: &ToolCall) -> Vec<Value> {
        match (call.name.as_str(), call.kind) {
            ("exec_command", CallKind::Function) => {
                let _shared = self.lock.read().await;
                call.text(self.exec.exec_command(call, &self.approvals, &self.patcher).await.model_text())
            }
            ("write_stdin", CallKind::Function) => {
                let _shared = self.lock.read().await;
                call.text(self.exec.write_stdin(&call.payload).await.model_text())
            }
            ("view_image", CallKind::Function) if !self.image_input => {
                call.text("view_image is not allowed because you do not support image inputs")
            }
            ("view_image", CallKind::Function) => {
                let _shared = self.lock.read().await;
                match view_image::view_image(&call.payload, &self.cwd) {
                    Ok(content) => vec![call.output(ToolOutput::Content(content))],
                    Err(message) => call.text(message),
                }
            }
            ("apply_patch", CallKind::Custom) => {
                let _alone = self.lock.write().await;
                call.text(
                    self.patcher.apply_asking(&call.payload, &self.cwd, &call.call_id, &self.approvals).await.text,
                )
            }
            ("update_plan", CallKind::Function) => {
                let _alone = self.lock.write().await;
                call.text(self.plan.update(&call.payload, &self.events).unwrap_or_else(|e| e))
            }
            ("get_goal" | "create_goal" | "update_goal", CallKind::Function) => {
                let _alone = self.lock.write().await;
                self.goals.call(call, self.pack)
            }
            ("request_user_input", CallKind::Function) => {
                let _alone = self.lock.write().await;
                call.text(self.request_user_input(call).await)
            }
            _ => call.text(unsupported(call)),
        }
    }

    /// Where the frontend's answers to the tools' requests go.
    pub fn asker(&self) -> std::sync::Arc<Asker> {
        self.approvals.asker.clone()
    }

    /// `request_user_input`: the questions go to the frontend, the answers back to the model as JSON. Checked as
    /// upstream checks them, with its texts: offered in Default mode only with
    /// `features.default_mode_request_user_input`, then the arguments, then the options.
    async fn request_user_input(&self, call: &ToolCall) -> String {
        #[derive(serde::Deserialize)]
        struct Arguments {
            questions: Vec<UserInputQuestion>,
        }
        let asker = &self.approvals.asker;
        if !asker.interaction().default_mode_request_user_input {
            return "request_user_input is unavailable in Default mode".to_string();
        }
        let mut questions = match serde_json::from_str::<Arguments>(&call.payload) {
            Ok(arguments) => arguments.questions,
            Err(e) => return format!("failed to parse function arguments: {e}"),
        };
        if questions.iter().any(|q| q.options.as_ref().is_none_or(Vec::is_empty)) {
            return "request_user_input requires non-empty options for every question".to_string();
        }
        // The frontend offers a free-form answer besides the options.
        questions.iter_mut().for_each(|q| q.is_other = true);
        match asker.user_input(&call.call_id, questions).await {
            Some(answers) => serde_json::to_string(&answers).expect("answers serialize"),
            None => {
                // The frontend went away without answering: the turn ends, as for a cancelled approval.
                asker.cancel_turn();
                std::future::pending().await
            }
        }
    }

    /// The tools upstream offers through `tool_search` to this model.
    fn deferred_tools(&self) -> &[Value] {
        self.pack.families.get(&self.family_slug).map(|f| f.deferred_tools.as_slice()).unwrap_or_default()
    }

    /// Called when a response of the model has arrived whole, before its tool calls run.
    pub fn response_received(&self, total_tokens: u64) {
        self.goals.response_received(total_tokens);
    }

    /// Hands the thread's history, in its context window, to a call about to run that spawns a child from it
    /// (`fork_context`).
    pub fn before_call(&self, call: &ToolCall, history: &[Value], context_window_id: &str, window_number: u32) {
        if let Some(agents) = &self.agents
            && agents::forks_context(call)
        {
            agents.note_history(history, context_window_id, window_number);
        }
    }

    /// Called as a turn starts: children spawned during it name it.
    pub fn begin_turn(&self, turn_id: &str) {
        if let Some(agents) = &self.agents {
            agents.begin_turn(turn_id, turn_id);
        }
    }

    /// Called at the end of a turn: a plan shown during the turn is completed, the goal's usage accounted.
    pub fn turn_done(&self) {
        self.plan.complete(&self.events);
        self.goals.turn_done();
    }

    /// Ends every command still running and waits for them (at exit, or when interrupted). Their events are not
    /// reported: the turn they belonged to is over.
    pub async fn shutdown(&self) {
        if let Some(agents) = &self.agents {
            agents.shutdown().await;
        }
        self.code_mode.shutdown().await;
        self.exec.shutdown().await;
    }
}

/// The tools offered in a request.
pub struct Tools {
    offered: HashSet<String>,
}

impl Tools {
    /// The tools offered in a request: the names in `tools`, or in `additional_tools` items' namespaces.
    pub fn offered_in(body_tools: Option<&Value>, input: &[Value]) -> Tools {
        let mut offered = HashSet::new();
        let mut collect = |tools: &Value| {
            for tool in tools.as_array().into_iter().flatten() {
                if let Some(name) = tool.get("name").and_then(Value::as_str) {
                    offered.insert(name.to_string());
                }
                for member in tool.get("tools").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(name) = member.get("name").and_then(Value::as_str) {
                        offered.insert(name.to_string());
                    }
                }
            }
        };
        if let Some(tools) = body_tools {
            collect(tools);
        }
        for item in input.iter().filter(|i| i.get("type").and_then(Value::as_str) == Some("additional_tools")) {
            if let Some(tools) = item.get("tools") {
                collect(tools);
            }
        }
        Tools { offered }
    }

    pub fn is_offered(&self, name: &str) -> bool {
        self.offered.contains(name)
    }
}

impl crate::code_mode::NestedTools for ToolRuntime {
    /// Upstream's nested call: the script's input becomes the call's arguments (an object) or input (a string, for
    /// a freeform tool); commands answer with an object, a patch with `{}`, other tools with their text; a call that
    /// failed before running rejects with the reason.
    async fn call_nested(&self, tool: &crate::code_mode::NestedTool, input: Option<Value>) -> Result<Value, String> {
        let name = &tool.name;
        let (kind, payload) = match (tool.freeform, input) {
            (true, Some(Value::String(input))) => (CallKind::Custom, input),
            (true, _) => return Err(format!("tool `{name}` expects a string input")),
            (false, None) => (CallKind::Function, "{}".to_string()),
            (false, Some(arguments @ Value::Object(_))) => (CallKind::Function, arguments.to_string()),
            (false, Some(_)) => return Err(format!("tool `{name}` expects a JSON object for arguments")),
        };
        let call = ToolCall { call_id: format!("exec-{}", uuid::Uuid::new_v4()), name: name.clone(), kind, payload };
        match (name.as_str(), kind) {
            ("exec_command", CallKind::Function) => {
                let _shared = self.lock.read().await;
                self.exec.exec_command(&call, &self.approvals, &self.patcher).await.code_mode_value()
            }
            ("write_stdin", CallKind::Function) => {
                let _shared = self.lock.read().await;
                self.exec.write_stdin(&call.payload).await.code_mode_value()
            }
            ("apply_patch", CallKind::Custom) => {
                let _alone = self.lock.write().await;
                let output = self.patcher.apply_asking(&call.payload, &self.cwd, &call.call_id, &self.approvals).await;
                if output.applied { Ok(json!({})) } else { Err(output.text) }
            }
            _ => Ok(code_mode_value(self.dispatch(&call).await)),
        }
    }
}

/// What a script's promise resolves to for a tool answering with an output item: its text, or its content items'
/// texts and URLs joined by newlines.
fn code_mode_value(answer: Vec<Value>) -> Value {
    let output = answer.into_iter().next().map(|item| item["output"].clone()).unwrap_or_default();
    match output {
        Value::Array(items) => Value::String(
            items
                .iter()
                .filter_map(|item| ["text", "image_url", "audio_url"].iter().find_map(|k| item[*k].as_str()))
                .filter(|text| !text.trim().is_empty())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        output => output,
    }
}

/// The tools a code-mode script of this model may call (none for a model without `exec`).
fn nested_tools(pack: &Pack, family_slug: &str) -> Vec<crate::code_mode::NestedTool> {
    use rcodex_prompt_pack::keys;
    let text = pack.text(&keys::additional_tools(family_slug, "restricted"));
    let tools = text.and_then(|text| serde_json::from_str(text).ok()).unwrap_or(Value::Null);
    crate::code_mode::nested_tools(&tools)
}

fn unsupported(call: &ToolCall) -> String {
    match call.kind {
        CallKind::Custom => format!("unsupported custom tool call: {}", call.name),
        CallKind::Function | CallKind::ToolSearch => format!("unsupported call: {}", call.name),
    }
}

#[cfg(test)]
mod tests;
