//! MCP servers (`[mcp_servers.<name>]`): rcodex's client, built with `rmcp`, the official Rust MCP SDK.
//!
//! Each configured server is started once per tool runtime, in the background as soon as the runtime exists (a
//! child process over stdio for `command`, a streamable HTTP connection for `url`), within its
//! `startup_timeout_sec`. Its tools reach the model as upstream 0.169.0 offers them: a deferred namespace
//! `mcp__<server>` named in the context's `<tools>` text and found through `tool_search`, each tool with its
//! parameters cut down to the JSON-Schema keys upstream keeps; the model calls them as `function_call`s in that
//! namespace. Three resource tools (`list_mcp_resources`, `list_mcp_resource_templates`, `read_mcp_resource`)
//! join the request's tools whenever a server is configured. Their definitions, the namespace's description and the
//! `<tools>` text come from the prompt pack (learned from the `mcp-*` scenarios), never from this file.
//!
//! Outputs are shaped as upstream's (recorded by the `mcp-*` scenarios): a tool's result goes back as a
//! `Wall time` header and its content items (text, images at their original detail), or as the header and the
//! structured content's JSON when there is some; a failure (timeout, a refused approval, unreadable arguments) as
//! the header and its message. The resource tools answer JSON text. `exec --json` shows each call as an
//! `mcp_tool_call` item.
//!
//! Approvals: a tool runs without asking when its mode is `approve`, or `auto` (the default) and the server marks
//! it read-only (`readOnlyHint`); otherwise it needs an approval, which under `never` (every `exec` run) fails the
//! call with upstream's message. Asking a person for an MCP approval (upstream's app server elicits it) is not done
//! yet: such a call is refused with a message that says so.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, PaginatedRequestParams, ReadResourceRequestParams, Tool as McpTool};
use rmcp::service::{RoleClient, RunningService, ServiceError};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::OnceCell;

use crate::events::{Event, EventSink, McpServerStartup};

/// How long a server may take to start and list its tools when `startup_timeout_sec` is not set.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a tool call may take when `tool_timeout_sec` is not set.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// The prefix of a server's tool namespace: `mcp__<server>`.
pub const NAMESPACE_PREFIX: &str = "mcp__";

/// Whether a tool call asks first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalMode {
    /// Read-only tools (`readOnlyHint`) run; the others need an approval.
    #[default]
    Auto,
    /// Every call needs an approval.
    Prompt,
    /// Every call runs.
    Approve,
}

/// A tool's own settings (`[mcp_servers.<name>.tools.<tool>]`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ToolSettings {
    pub approval_mode: Option<ApprovalMode>,
}

/// One `[mcp_servers.<name>]` table. Keys upstream has that rcodex does not use (OAuth, scopes) are accepted and
/// left alone.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ServerConfig {
    /// The program of a stdio server.
    pub command: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    /// More environment for the program (it inherits rcodex's).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Variables of rcodex's environment passed on by name.
    #[serde(default)]
    pub env_vars: Vec<String>,
    /// Where the program runs (rcodex's working directory otherwise).
    pub cwd: Option<PathBuf>,
    /// The endpoint of a streamable HTTP server.
    pub url: Option<String>,
    /// An environment variable holding a bearer token for `url`.
    pub bearer_token_env_var: Option<String>,
    #[serde(default)]
    pub http_headers: BTreeMap<String, String>,
    pub startup_timeout_sec: Option<f64>,
    pub startup_timeout_ms: Option<u64>,
    pub tool_timeout_sec: Option<f64>,
    pub enabled: Option<bool>,
    /// Only these tools are offered, when given.
    pub enabled_tools: Option<Vec<String>>,
    /// These tools are never offered.
    #[serde(default)]
    pub disabled_tools: Vec<String>,
    pub default_tools_approval_mode: Option<ApprovalMode>,
    #[serde(default)]
    pub tools: BTreeMap<String, ToolSettings>,
}

impl ServerConfig {
    /// Checks what would make the server impossible to start, naming the server and the key.
    pub fn check(&self, name: &str) -> Result<(), String> {
        if !valid_name(name) {
            return Err(format!(
                "mcp_servers.{name}: invalid server name (use letters, numbers, '-', '_', ':', '@', '/', '.')"
            ));
        }
        match (&self.command, &self.url) {
            (Some(_), Some(_)) => Err(format!("mcp_servers.{name}: give `command` or `url`, not both")),
            (None, None) => Err(format!("mcp_servers.{name}: missing `command` (stdio) or `url` (streamable HTTP)")),
            (Some(command), None) if command.trim().is_empty() => {
                Err(format!("mcp_servers.{name}.command: must not be empty"))
            }
            _ => Ok(()),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }

    fn startup_timeout(&self) -> Duration {
        match (self.startup_timeout_sec, self.startup_timeout_ms) {
            (Some(secs), _) if secs.is_finite() && secs >= 0.0 => Duration::from_secs_f64(secs),
            (_, Some(ms)) => Duration::from_millis(ms),
            _ => DEFAULT_STARTUP_TIMEOUT,
        }
    }

    fn tool_timeout(&self) -> Duration {
        match self.tool_timeout_sec {
            Some(secs) if secs.is_finite() && secs >= 0.0 => Duration::from_secs_f64(secs),
            _ => DEFAULT_TOOL_TIMEOUT,
        }
    }

    fn offers(&self, tool: &str) -> bool {
        self.enabled_tools.as_ref().is_none_or(|only| only.iter().any(|t| t == tool))
            && !self.disabled_tools.iter().any(|t| t == tool)
    }

    fn approval_mode(&self, tool: &str) -> ApprovalMode {
        self.tools.get(tool).and_then(|t| t.approval_mode).or(self.default_tools_approval_mode).unwrap_or_default()
    }
}

/// Whether a server name is one upstream accepts: ASCII letters, digits, and `-_:@/.`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_:@/.".contains(c))
}

/// A started server.
struct Server {
    name: String,
    config: ServerConfig,
    /// Why it could not start, else its connection and tools.
    state: Result<Connection, String>,
}

struct Connection {
    service: RunningService<RoleClient, ()>,
    tools: Vec<McpTool>,
}

/// The configured servers, started on first need (and eagerly in the background).
pub struct McpServers {
    configs: BTreeMap<String, ServerConfig>,
    cwd: PathBuf,
    started: OnceCell<Vec<Server>>,
    /// Where the servers' starts are told (the session's events).
    events: std::sync::OnceLock<EventSink>,
}

/// What a call of an MCP tool gave, before it is shaped for the model.
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome {
    /// The server answered (`isError` included): its result as the protocol writes it.
    Result(Value),
    /// The call failed before or without an answer.
    Error(String),
}

impl McpServers {
    /// The enabled servers of the configuration; nothing starts yet.
    pub fn new(configs: &BTreeMap<String, ServerConfig>, cwd: PathBuf) -> Arc<McpServers> {
        let configs = configs.iter().filter(|(_, c)| c.is_enabled()).map(|(n, c)| (n.clone(), c.clone())).collect();
        Arc::new(McpServers { configs, cwd, started: OnceCell::new(), events: Default::default() })
    }

    pub fn is_empty(&self) -> bool {
        self.configs.is_empty()
    }

    /// The servers' namespaces, sorted (as upstream lists them in the context).
    pub fn namespaces(&self) -> Vec<String> {
        self.configs.keys().map(|name| format!("{NAMESPACE_PREFIX}{name}")).collect()
    }

    /// Starts the servers in the background, so that the first call finds them ready.
    /// Starts the servers, telling `events` of each one's progress.
    pub fn start_in_background(self: &Arc<Self>, events: EventSink) {
        if self.is_empty() {
            return;
        }
        let _ = self.events.set(events);
        let this = self.clone();
        tokio::spawn(async move {
            this.servers().await;
        });
    }

    fn tell(&self, name: &str, status: McpServerStartup, error: Option<String>) {
        if let Some(events) = self.events.get() {
            events.emit(Event::McpServerStatus { name: name.to_string(), status, error });
        }
    }

    async fn servers(&self) -> &[Server] {
        self.started
            .get_or_init(|| async {
                let starts = self.configs.iter().map(|(name, config)| async move {
                    self.tell(name, McpServerStartup::Starting, None);
                    let state = match tokio::time::timeout(config.startup_timeout(), connect(config, &self.cwd)).await {
                        Ok(Ok(connection)) => Ok(connection),
                        Ok(Err(e)) => Err(format!("MCP client for `{name}` failed to start: {e}")),
                        Err(_) => Err(format!(
                            "MCP client for `{name}` timed out after {} seconds",
                            config.startup_timeout().as_secs_f64()
                        )),
                    };
                    match &state {
                        Ok(_) => self.tell(name, McpServerStartup::Ready, None),
                        Err(e) => {
                            eprintln!("rcodex: {e}");
                            self.tell(name, McpServerStartup::Failed, Some(e.clone()));
                        }
                    }
                    Server { name: name.clone(), config: config.clone(), state }
                });
                futures_util::future::join_all(starts).await
            })
            .await
    }

    async fn server(&self, name: &str) -> Option<&Server> {
        self.servers().await.iter().find(|s| s.name == name)
    }

    /// The deferred tools `tool_search` searches: one namespace per server that started with tools, described
    /// by `describe(namespace)`.
    pub async fn deferred_tools(&self, describe: impl Fn(&str) -> String) -> Vec<Value> {
        let mut out = Vec::new();
        for server in self.servers().await {
            let Ok(connection) = &server.state else { continue };
            let tools: Vec<Value> =
                connection.tools.iter().filter(|t| server.config.offers(&t.name)).map(function_definition).collect();
            if tools.is_empty() {
                continue;
            }
            let namespace = format!("{NAMESPACE_PREFIX}{}", server.name);
            out.push(
                json!({"type": "namespace", "name": namespace, "description": describe(&namespace), "tools": tools}),
            );
        }
        out
    }

    /// The server and tool a namespaced call names (`mcp__<server>` then the tool's name, as the call's name and
    /// namespace joined), if a started server offers that tool.
    pub async fn resolve(&self, joined: &str) -> Option<(String, String)> {
        let rest = joined.strip_prefix(NAMESPACE_PREFIX)?;
        for server in self.servers().await {
            let (Some(tool), Ok(connection)) = (rest.strip_prefix(server.name.as_str()), &server.state) else {
                continue;
            };
            if connection.tools.iter().any(|t| t.name == tool) && server.config.offers(tool) {
                return Some((server.name.clone(), tool.to_string()));
            }
        }
        None
    }

    /// The tool's `readOnlyHint`, if its server gives one.
    pub async fn read_only_hint(&self, server: &str, tool: &str) -> Option<bool> {
        self.tool(server, tool).await?.annotations.as_ref()?.read_only_hint
    }

    /// The tool's description and annotations, as its server lists them.
    pub async fn tool_details(&self, server: &str, tool: &str) -> (Option<String>, Option<Value>) {
        let Some(tool) = self.tool(server, tool).await else { return (None, None) };
        let annotations = tool.annotations.as_ref().and_then(|a| serde_json::to_value(a).ok());
        (tool.description.as_deref().map(str::to_string), annotations)
    }

    async fn tool(&self, server: &str, tool: &str) -> Option<&McpTool> {
        let connection = self.server(server).await?.state.as_ref().ok()?;
        connection.tools.iter().find(|t| t.name == tool)
    }

    /// Whether a call of this tool needs a person's approval first.
    pub async fn needs_approval(&self, server_name: &str, tool: &str) -> bool {
        let Some(server) = self.server(server_name).await else { return false };
        let read_only = self.read_only_hint(server_name, tool).await.unwrap_or(false);
        match server.config.approval_mode(tool) {
            ApprovalMode::Approve => false,
            ApprovalMode::Prompt => true,
            ApprovalMode::Auto => !read_only,
        }
    }

    /// Calls a tool within the server's tool timeout.
    pub async fn call(&self, server_name: &str, tool: &str, arguments: Option<Map<String, Value>>) -> CallOutcome {
        let Some(server) = self.server(server_name).await else {
            return CallOutcome::Error(format!("unknown MCP server '{server_name}'"));
        };
        let connection = match &server.state {
            Ok(connection) => connection,
            Err(e) => return CallOutcome::Error(format!("tool call error: {e}")),
        };
        let mut params = CallToolRequestParams::new(tool.to_string());
        if let Some(arguments) = arguments {
            params = params.with_arguments(arguments);
        }
        let timeout = server.config.tool_timeout();
        let failed = |cause: String| {
            CallOutcome::Error(format!(
                "tool call error: tool call failed for `{server_name}/{tool}`\n\nCaused by:\n    {cause}"
            ))
        };
        match tokio::time::timeout(timeout, connection.service.call_tool(params)).await {
            Ok(Ok(result)) => CallOutcome::Result(serde_json::to_value(result).unwrap_or(Value::Null)),
            Ok(Err(e)) => failed(service_error(&e)),
            Err(_) => failed(format!("timed out awaiting tools/call after {}ms", timeout.as_millis())),
        }
    }

    /// `list_mcp_resources` / `list_mcp_resource_templates`: `templates` picks which. The JSON text for the model,
    /// or the error text.
    pub async fn list_resources(
        &self,
        server: Option<&str>,
        cursor: Option<String>,
        templates: bool,
    ) -> Result<String, String> {
        let key = if templates { "resourceTemplates" } else { "resources" };
        let method = if templates { "resources/templates/list" } else { "resources/list" };
        let servers: Vec<&Server> = match server {
            Some(name) => vec![self.server(name).await.ok_or_else(|| format!("unknown MCP server '{name}'"))?],
            None => self.servers().await.iter().collect(),
        };
        // One server asked by name: its own failure and cursor are the answer's.
        let single = server.is_some();
        let mut all = Vec::new();
        let mut next_cursor = None;
        for server in &servers {
            let connection = match &server.state {
                Ok(connection) => connection,
                Err(e) if single => return Err(e.clone()),
                Err(_) => continue,
            };
            let params = Some(PaginatedRequestParams::default().with_cursor(cursor.clone()));
            let listed = if templates {
                connection.service.list_resource_templates(params).await.map(|r| {
                    let v = serde_json::to_value(&r).unwrap_or(Value::Null);
                    (v.get("resourceTemplates").cloned(), v.get("nextCursor").cloned())
                })
            } else {
                connection.service.list_resources(params).await.map(|r| {
                    let v = serde_json::to_value(&r).unwrap_or(Value::Null);
                    (v.get("resources").cloned(), v.get("nextCursor").cloned())
                })
            };
            let (entries, next) = listed.map_err(|e| {
                format!("{method} failed: {method} failed for `{}`: {}", server.name, service_error(&e))
            })?;
            for entry in entries.and_then(|e| e.as_array().cloned()).unwrap_or_default() {
                let mut with_server = Map::new();
                with_server.insert("server".into(), json!(server.name));
                if let Value::Object(fields) = entry {
                    with_server.extend(fields);
                }
                all.push(Value::Object(with_server));
            }
            if single {
                next_cursor = next.filter(|n| !n.is_null());
            }
        }
        let mut out = Map::new();
        if let Some(name) = server {
            out.insert("server".into(), json!(name));
        }
        out.insert(key.into(), Value::Array(all));
        if let Some(next) = next_cursor {
            out.insert("nextCursor".into(), next);
        }
        Ok(Value::Object(out).to_string())
    }

    /// `read_mcp_resource`: the JSON text for the model, or the error text.
    pub async fn read_resource(&self, server_name: &str, uri: &str) -> Result<String, String> {
        let server = self.server(server_name).await.ok_or_else(|| format!("unknown MCP server '{server_name}'"))?;
        let connection = server.state.as_ref().map_err(Clone::clone)?;
        let result =
            connection.service.read_resource(ReadResourceRequestParams::new(uri.to_string())).await.map_err(|e| {
                format!(
                    "resources/read failed: resources/read failed for `{server_name}` ({uri}): {}",
                    service_error(&e)
                )
            })?;
        let value = serde_json::to_value(&result).unwrap_or(Value::Null);
        let mut out = Map::new();
        out.insert("server".into(), json!(server_name));
        out.insert("uri".into(), json!(uri));
        out.insert("contents".into(), value.get("contents").cloned().unwrap_or_else(|| json!([])));
        Ok(Value::Object(out).to_string())
    }

    /// Whether a server of that name is configured and enabled.
    pub fn knows(&self, server: &str) -> bool {
        self.configs.contains_key(server)
    }
}

/// How an rmcp error reads in upstream's messages (`Mcp error: <code>: <message>`).
fn service_error(error: &ServiceError) -> String {
    match error {
        ServiceError::McpError(data) => format!("Mcp error: {}: {}", data.code.0, data.message),
        other => other.to_string(),
    }
}

async fn connect(config: &ServerConfig, cwd: &std::path::Path) -> Result<Connection, String> {
    let service = match (&config.command, &config.url) {
        (Some(command), _) => {
            let mut cmd = tokio::process::Command::new(command);
            cmd.args(&config.args);
            cmd.current_dir(config.cwd.as_ref().map(|dir| cwd.join(dir)).unwrap_or_else(|| cwd.to_path_buf()));
            for name in &config.env_vars {
                if let Some(value) = std::env::var_os(name) {
                    cmd.env(name, value);
                }
            }
            cmd.envs(&config.env);
            // The server's own log stays out of rcodex's output (upstream does not show it either).
            let (transport, _stderr) = rmcp::transport::TokioChildProcess::builder(cmd)
                .stderr(std::process::Stdio::null())
                .spawn()
                .map_err(|e| format!("could not run `{command}`: {e}"))?;
            ().serve(transport).await.map_err(|e| e.to_string())?
        }
        (None, Some(url)) => {
            use rmcp::transport::StreamableHttpClientTransport;
            use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
            let mut transport_config = StreamableHttpClientTransportConfig::with_uri(url.clone());
            if let Some(var) = &config.bearer_token_env_var {
                let token = std::env::var(var).map_err(|_| format!("environment variable {var} is not set"))?;
                transport_config = transport_config.auth_header(token);
            }
            let transport = StreamableHttpClientTransport::from_config(transport_config);
            ().serve(transport).await.map_err(|e| e.to_string())?
        }
        (None, None) => return Err("no command or url".into()),
    };
    let tools = service.list_all_tools().await.map_err(|e| format!("tools/list failed: {}", service_error(&e)))?;
    Ok(Connection { service, tools })
}

/// A tool as upstream offers it in its namespace: its parameters cut down to the JSON-Schema keys upstream keeps.
fn function_definition(tool: &McpTool) -> Value {
    let schema = Value::Object((*tool.input_schema).clone());
    json!({
        "type": "function",
        "name": tool.name,
        "description": tool.description.as_deref().unwrap_or_default(),
        "strict": false,
        "defer_loading": true,
        "parameters": sanitize_schema(&schema),
    })
}

/// The JSON-Schema keys upstream 0.169.0 was seen keeping (the `mcp-*` scenarios: `minimum` and `title` went).
const SCHEMA_KEYS: [&str; 8] =
    ["type", "description", "properties", "required", "items", "enum", "anyOf", "additionalProperties"];

fn sanitize_schema(schema: &Value) -> Value {
    let Value::Object(fields) = schema else { return schema.clone() };
    let mut out = Map::new();
    for (key, value) in fields {
        if !SCHEMA_KEYS.contains(&key.as_str()) {
            continue;
        }
        let value = match key.as_str() {
            "properties" => match value {
                Value::Object(props) => {
                    Value::Object(props.iter().map(|(k, v)| (k.clone(), sanitize_schema(v))).collect())
                }
                other => other.clone(),
            },
            "items" | "additionalProperties" => sanitize_schema(value),
            "anyOf" => match value {
                Value::Array(variants) => Value::Array(variants.iter().map(sanitize_schema).collect()),
                other => other.clone(),
            },
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    Value::Object(out)
}

/// The `Wall time` header upstream puts before an MCP tool's output.
pub fn wall_time_header(elapsed: Duration) -> String {
    format!("Wall time: {:.4} seconds\nOutput:", elapsed.as_secs_f64())
}

/// The output of a call for the model: a text (the header and the structured content's JSON), or content items
/// (the header, then each item: text as `input_text`, images as `input_image` data URLs).
pub fn model_output(outcome: &CallOutcome, started: Instant, original_detail: bool) -> Value {
    let header = wall_time_header(started.elapsed());
    let text = |t: &str| json!({"type": "input_text", "text": t});
    match outcome {
        CallOutcome::Error(message) => json!([text(&header), text(message)]),
        CallOutcome::Result(result) => {
            if let Some(structured) = result.get("structuredContent").filter(|s| !s.is_null()) {
                return Value::String(format!("{header}\n{structured}"));
            }
            let mut items = vec![text(&header)];
            for content in result.get("content").and_then(Value::as_array).into_iter().flatten() {
                match content.get("type").and_then(Value::as_str) {
                    Some("text") => items.push(text(content.get("text").and_then(Value::as_str).unwrap_or_default())),
                    Some("image") => {
                        let mime = content.get("mimeType").and_then(Value::as_str).unwrap_or("image/png");
                        let data = content.get("data").and_then(Value::as_str).unwrap_or_default();
                        let mut image =
                            json!({"type": "input_image", "image_url": format!("data:{mime};base64,{data}")});
                        if original_detail {
                            image["detail"] = json!("original");
                        }
                        items.push(image);
                    }
                    // Other content (audio, resources) goes as its JSON text.
                    _ => items.push(text(&content.to_string())),
                }
            }
            Value::Array(items)
        }
    }
}

/// The `result` of an `mcp_tool_call` item: the content as the server sent it, and its structured content.
pub fn item_result(result: &Value) -> Value {
    json!({
        "content": result.get("content").cloned().unwrap_or_else(|| json!([])),
        "structured_content": result.get("structuredContent").cloned().unwrap_or(Value::Null),
    })
}

/// Whether the server marked its answer as a failure (`isError`).
pub fn is_error(result: &Value) -> bool {
    result.get("isError").and_then(Value::as_bool).unwrap_or(false)
}

/// The resource tools' arguments.
#[derive(Debug, Deserialize)]
pub struct ListArgs {
    pub server: Option<String>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ReadArgs {
    pub server: String,
    pub uri: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_keep_the_keys_upstream_keeps() {
        let schema = json!({"type": "object", "title": "T", "properties": {"ms": {"type": "integer", "minimum": 0, "description": "d"}}, "required": ["ms"]});
        assert_eq!(
            sanitize_schema(&schema),
            json!({"type": "object", "properties": {"ms": {"type": "integer", "description": "d"}}, "required": ["ms"]})
        );
    }

    #[test]
    fn structured_content_goes_as_json_after_the_header() {
        let result = json!({"content": [{"type": "text", "text": "t"}], "structuredContent": {"a": 1}});
        let out = model_output(&CallOutcome::Result(result), Instant::now(), true);
        let text = out.as_str().unwrap();
        assert!(text.starts_with("Wall time: ") && text.ends_with("seconds\nOutput:\n{\"a\":1}"), "{text}");
    }

    #[test]
    fn a_server_config_without_command_or_url_is_refused_by_name() {
        let err = ServerConfig::default().check("docs").unwrap_err();
        assert!(err.contains("mcp_servers.docs") && err.contains("command"), "{err}");
        let both = ServerConfig { command: Some("x".into()), url: Some("http://h".into()), ..Default::default() };
        assert!(both.check("docs").unwrap_err().contains("not both"));
    }
}
