//! A model request as upstream builds it: the body's fields, the headers and the turn metadata, each in upstream's
//! order (recorded in the prompt pack), with values from the configuration, the catalog and the session.

use std::path::Path;

use rcodex_prompt_pack::{Pack, keys};
use serde_json::{Map, Value, json};

use crate::config::{Config, SandboxMode, WebSearchMode};
use crate::context::ModelProfile;

/// The ids and facts of one turn, the same for every request the turn makes.
#[derive(Debug, Clone)]
pub struct TurnIds {
    pub installation_id: String,
    pub thread_id: String,
    pub turn_id: String,
    pub context_window_id: String,
    pub window_number: u32,
    /// `new` for a session's first turn in this process, `cold_resume` for a resumed session.
    pub history_initialization: &'static str,
    /// A forked thread's source and where in the source's session file it branched off.
    pub forked_from: Option<(String, u64)>,
    pub turn_started_at_unix_ms: u64,
    /// A sub-agent's parent, which its requests name.
    pub spawned: Option<crate::agents::SpawnedBy>,
}

impl TurnIds {
    pub fn window_id(&self) -> String {
        format!("{}:{}", self.thread_id, self.window_number)
    }

    /// The session id the requests carry: the root thread's (a sub-agent shares its parent's).
    pub fn session_id(&self) -> &str {
        self.spawned.as_ref().map_or(&self.thread_id, |s| &s.session_id)
    }

    /// The turn that began the work: a sub-agent's is its parent's.
    pub fn root_turn_id(&self) -> &str {
        self.spawned.as_ref().map_or(&self.turn_id, |s| &s.root_turn_id)
    }
}

/// What every request of a turn shares.
pub struct RequestContext<'a> {
    pub pack: &'a Pack,
    pub model: &'a ModelProfile<'a>,
    pub config: &'a Config,
    pub ids: &'a TurnIds,
    /// `workspaces` of the turn metadata, when the working directory is in a git repository.
    pub workspaces: Option<Value>,
    /// `--output-schema`.
    pub output_schema: Option<&'a Value>,
    /// The app-server client, when the session has one (`None`: exec).
    pub client: Option<&'a AppClient>,
    pub surface: Surface,
}

/// Which frontend a session without an app-server client serves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Surface {
    /// `rcodex exec` (and the app server, whose client names the session).
    #[default]
    Exec,
    /// The interactive interface's thread.
    Tui,
    /// The interface's request for a thread's title, a session of its own.
    TuiTitle,
}

impl Surface {
    /// The originator upstream's frontend sends (the interface's, from the pack's tui recordings).
    pub fn originator(self, pack: &Pack) -> &str {
        match (self, &pack.tui) {
            (Surface::Tui | Surface::TuiTitle, Some(tui)) => &tui.originator,
            _ => &pack.originator,
        }
    }
}

/// An app-server client, as its `initialize` named it (`clientInfo`). Upstream's app server sends the client's name
/// as the originator and the first word of the user agent, and its version at the user agent's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppClient {
    pub name: String,
    pub version: String,
}

impl AppClient {
    /// The `originator` header: the client's name, or upstream's fallback when it cannot be a header value.
    pub fn originator(&self) -> String {
        originator_from(Some(self.name.clone().into()), &self.name)
    }

    /// `NAME/0.169.0 (Debian 12.0.0; x86_64) dumb (NAME; CLIENT_VERSION)`: what upstream's app server sends (and
    /// answers `initialize` with).
    pub fn user_agent(&self, upstream_version: &str) -> String {
        let originator = self.originator();
        user_agent_of(&originator, upstream_version, &originator, &self.version)
    }
}

impl RequestContext<'_> {
    /// The reasoning effort sent: the configured one, else the model's default.
    pub fn reasoning_effort(&self) -> Option<String> {
        self.config
            .model_reasoning_effort
            .clone()
            .or_else(|| self.model.info.and_then(|i| i.default_reasoning_level.clone()))
    }

    fn sandbox_tag(&self) -> &'static str {
        match self.config.sandbox_mode {
            SandboxMode::DangerFullAccess => "none",
            _ => "seccomp",
        }
    }

    /// The `x-codex-turn-metadata` JSON.
    pub fn turn_metadata(&self) -> String {
        let ids = self.ids;
        let info = self.model.info;
        let mut values: Map<String, Value> = Map::new();
        values.insert("installation_id".into(), json!(ids.installation_id));
        values.insert("session_id".into(), json!(ids.session_id()));
        values.insert("thread_id".into(), json!(ids.thread_id));
        values.insert("agent_name".into(), json!("/root"));
        values.insert("turn_id".into(), json!(ids.turn_id));
        values.insert("window_id".into(), json!(ids.window_id()));
        values.insert("window_number".into(), json!(ids.window_number));
        values.insert("context_window_id".into(), json!(ids.context_window_id));
        values.insert("request_kind".into(), json!("turn"));
        values.insert("history_initialization".into(), json!(ids.history_initialization));
        if let Some((thread, ordinal)) = &ids.forked_from {
            values.insert("forked_from_thread_id".into(), json!(thread));
            values.insert("forked_from_ordinal_exclusive".into(), json!(ordinal));
        }
        if let Some(spawned) = &ids.spawned {
            values.insert("parent_thread_id".into(), json!(spawned.parent_thread_id));
            values.insert("parent_turn_id".into(), json!(spawned.parent_turn_id));
        }
        values.insert("root_turn_id".into(), json!(ids.root_turn_id()));
        if ids.spawned.is_some() {
            values.insert("subagent_kind".into(), json!("thread_spawn"));
        }
        // Upstream's app server leaves its threads unclassified (a sub-agent's excepted) and its turns without a
        // trigger.
        if self.client.is_some() && ids.spawned.is_some() {
            values.insert("thread_source".into(), json!(self.config.thread_source));
        }
        if self.client.is_none() {
            values.insert("thread_source".into(), json!(self.config.thread_source));
            // The interface's turns are the user's; its title requests have no trigger.
            match self.surface {
                Surface::Exec => drop(values.insert("turn_trigger".into(), json!("exec"))),
                Surface::Tui => drop(values.insert("turn_trigger".into(), json!("user"))),
                Surface::TuiTitle => {}
            }
        }
        values.insert("sandbox".into(), json!(self.sandbox_tag()));
        values.insert("sandbox_mode".into(), json!(self.config.sandbox_mode.as_str()));
        values.insert("auto_review_enabled".into(), json!(false));
        values.insert(
            "node_repl_auto_review_required".into(),
            json!(info.is_some_and(|i| i.node_repl_auto_review_required)),
        );
        values.insert("node_repl_disabled".into(), json!(info.is_some_and(|i| i.node_repl_disabled)));
        if let Some(workspaces) = &self.workspaces {
            values.insert("workspaces".into(), workspaces.clone());
        }
        values.insert("turn_started_at_unix_ms".into(), json!(ids.turn_started_at_unix_ms));
        values.insert("analytics_enabled".into(), json!(true));
        values.insert("model".into(), json!(self.model.slug));
        if let Some(effort) = self.reasoning_effort() {
            values.insert("reasoning_effort".into(), json!(effort));
        }
        crate::review::adjust_turn_metadata(self.config, &mut values);
        Value::Object(in_order(values, &self.model.family.turn_metadata_keys)).to_string()
    }

    /// The request body.
    pub fn body(&self, input: &[Value], turn_metadata: &str) -> Value {
        let lite = self.model.lite();
        let info = self.model.info;
        let ids = self.ids;
        // The built-in provider signed in with ChatGPT: read once, for the tools and the metadata it adds.
        let chatgpt = self.config.model_provider.builtin
            && matches!(
                crate::auth::current(&self.config.codex_home),
                Some(crate::auth::OpenAiAuth::ChatgptTokens { .. })
            );
        let mut fields: Map<String, Value> = Map::new();
        fields.insert("model".into(), json!(self.model.slug));
        fields.insert("stream".into(), json!(true));
        fields.insert("input".into(), Value::Array(input.to_vec()));
        if !lite {
            // The pack keeps each recipe's tools as recorded under danger-full-access (live web search) and under
            // the other sandboxes (cached): the web search mode picks the list.
            let mode = self.config.web_search_mode();
            let recorded = if mode == WebSearchMode::Live { "enabled" } else { "restricted" };
            if let Some(tools) = self.model.family.tools.get(recorded) {
                let mut tools = tools.clone();
                if let (WebSearchMode::Disabled, Some(list)) = (mode, tools.as_array_mut()) {
                    list.retain(|tool| tool["type"] != "web_search");
                }
                // A sub-agent may spawn none: it is offered no deferred tools to search.
                if let (Some(_), Some(list)) = (&ids.spawned, tools.as_array_mut()) {
                    list.retain(|tool| tool["type"] != "tool_search");
                }
                if let Some(list) = tools.as_array_mut()
                    && !self.config.mcp_namespaces().is_empty()
                {
                    add_learned_tools(list, self.pack, keys::MCP_RESOURCE_TOOLS);
                }
                if let Some(list) = tools.as_array_mut()
                    && chatgpt
                {
                    add_learned_tools(list, self.pack, keys::CHATGPT_TOOLS);
                }
                fields.insert("tools".into(), tools);
            }
        }
        fields.insert("tool_choice".into(), json!("auto"));
        fields.insert("parallel_tool_calls".into(), json!(!lite));
        let mut reasoning = Map::new();
        if let Some(effort) = self.reasoning_effort() {
            reasoning.insert("effort".into(), json!(effort));
        }
        let summary = self
            .config
            .model_reasoning_summary
            .as_deref()
            .or_else(|| info.and_then(|i| i.default_reasoning_summary.as_deref()));
        if let Some(summary) = summary.filter(|s| *s != "none") {
            reasoning.insert("summary".into(), json!(summary));
        }
        if lite {
            reasoning.insert("context".into(), json!("all_turns"));
        }
        fields.insert("reasoning".into(), Value::Object(reasoning));
        fields.insert("store".into(), json!(false));
        fields.insert("include".into(), json!(["reasoning.encrypted_content"]));
        fields.insert("prompt_cache_key".into(), json!(ids.session_id()));
        let mut text = Map::new();
        if info.is_some_and(|i| i.support_verbosity) {
            let verbosity =
                self.config.model_verbosity.clone().or_else(|| info.and_then(|i| i.default_verbosity.clone()));
            if let Some(verbosity) = verbosity {
                text.insert("verbosity".into(), json!(verbosity));
            }
        }
        if let Some(schema) = self.output_schema {
            text.insert(
                "format".into(),
                json!({"type": "json_schema", "strict": true, "schema": schema, "name": "codex_output_schema"}),
            );
        }
        if !text.is_empty() {
            fields.insert("text".into(), Value::Object(text));
        }
        let mut metadata = json!({
            "session_id": ids.session_id(),
            "thread_id": ids.thread_id,
            "x-codex-window-id": ids.window_id(),
            "turn_id": ids.turn_id,
            "x-codex-installation-id": ids.installation_id,
            "root_turn_id": ids.root_turn_id(),
            "x-codex-turn-metadata": turn_metadata,
        });
        if let Some(spawned) = &ids.spawned {
            metadata["x-openai-subagent"] = json!(SUBAGENT_KIND);
            metadata["x-codex-parent-thread-id"] = json!(spawned.parent_thread_id);
            metadata["parent_turn_id"] = json!(spawned.parent_turn_id);
        }
        if self.config.model_provider.builtin {
            // Which MCP tools the request's answer may be attributed to: none, as upstream 0.169.0 says for the
            // built-in provider in every request recorded.
            metadata["mcp_attribution"] = json!(r#"{"status":"none"}"#);
            // Signed in with ChatGPT, upstream also asks for the account's guardian credits.
            if chatgpt {
                metadata["guardian_credits_requested"] = json!("true");
            }
        }
        fields.insert("client_metadata".into(), metadata);
        crate::review::adjust_body(self.config, &mut fields);
        Value::Object(in_order(fields, &self.model.family.body_keys))
    }

    /// The request headers, in upstream's order, then the provider's own.
    pub fn headers(&self, turn_metadata: &str) -> Vec<(String, String)> {
        let ids = self.ids;
        let provider = &self.config.model_provider;
        let version = &self.pack.upstream_version;
        let client_name = self.surface.originator(self.pack);
        let originator = match self.client {
            Some(client) => client.originator(),
            None => originator(client_name),
        };
        let mut known: Vec<(String, String)> = Vec::new();
        let mut put = |name: &str, value: String| known.push((name.to_string(), value));
        // The built-in provider's static header, as upstream's (the release it is).
        if provider.builtin {
            put("version", version.clone());
            // As upstream's built-in provider: the organization and project the environment names, if any.
            for (header, var) in [("openai-organization", "OPENAI_ORGANIZATION"), ("openai-project", "OPENAI_PROJECT")]
            {
                if let Some(value) = std::env::var(var).ok().filter(|v| !v.trim().is_empty()) {
                    put(header, value);
                }
            }
        }
        if let Some(beta) = &self.pack.beta_features {
            put("x-codex-beta-features", beta.clone());
        }
        put("x-codex-window-id", ids.window_id());
        put("x-codex-turn-metadata", turn_metadata.to_string());
        if let Some(spawned) = &ids.spawned {
            put("x-codex-parent-thread-id", spawned.parent_thread_id.clone());
            put("x-openai-subagent", SUBAGENT_KIND.into());
        }
        if self.model.lite() {
            put("x-openai-internal-codex-responses-lite", "true".into());
        }
        put("x-client-request-id", ids.thread_id.clone());
        put("session-id", ids.session_id().to_string());
        put("thread-id", ids.thread_id.clone());
        put("accept", "text/event-stream".into());
        put("content-type", "application/json".into());
        // The key from `env_key`; without one, the token written in the configuration (as upstream).
        let key = match provider.env_key.as_deref() {
            Some(var) => std::env::var(var).ok().filter(|k| !k.is_empty()),
            None => provider.experimental_bearer_token.clone(),
        };
        if let Some(key) = key {
            put("authorization", format!("Bearer {key}"));
        } else if provider.env_key.is_none()
            && provider.requires_openai_auth
            && let Some(auth) = crate::auth::current(&self.config.codex_home)
        {
            // A provider that requires OpenAI's credentials and names none of its own: those of the login.
            let chatgpt = matches!(auth, crate::auth::OpenAiAuth::ChatgptTokens { .. });
            for (name, value) in auth.headers() {
                put(name, value);
            }
            // Signed in with ChatGPT, the built-in provider's requests say which model to route to.
            if chatgpt && provider.builtin {
                put("x-codex-routing-hint", format!("model={}", self.model.slug));
            }
        }
        let agent = match self.client {
            Some(client) => client.user_agent(version),
            None => user_agent(&originator, client_name, version),
        };
        put("user-agent", agent);
        put("originator", originator);
        crate::review::adjust_headers(self.config, &mut known);

        let order = &self.model.family.headers;
        let mut headers: Vec<(String, String)> =
            order.iter().filter_map(|name| known.iter().find(|(n, _)| n == name).cloned()).collect();
        // A header the recorded order lacks (a sub-agent's) follows the one put before it here.
        for (i, header) in known.iter().enumerate().filter(|(_, (n, _))| !order.contains(n)) {
            let after = known[..i].iter().rev().find_map(|(n, _)| headers.iter().position(|(h, _)| h == n));
            headers.insert(after.map_or(headers.len(), |p| p + 1), header.clone());
        }
        headers.extend(provider.http_headers.iter().map(|(k, v)| (k.clone(), v.clone())));
        for (header, var) in &provider.env_http_headers {
            // A value that cannot be a header value is skipped, as an unset one is (upstream skips both).
            if let Some(value) = std::env::var(var)
                .ok()
                .filter(|v| !v.trim().is_empty() && reqwest::header::HeaderValue::from_str(v).is_ok())
            {
                headers.push((header.clone(), value));
            }
        }
        headers
    }
}

/// What a spawned sub-agent's requests call it (`x-openai-subagent`).
const SUBAGENT_KIND: &str = "collab_spawn";

/// The keys of `fields` in `order`, then the rest in their own order.
fn in_order(mut fields: Map<String, Value>, order: &[String]) -> Map<String, Value> {
    let mut out = Map::with_capacity(fields.len());
    for key in order {
        if let Some(value) = fields.shift_remove(key) {
            out.insert(key.clone(), value);
        }
    }
    out.append(&mut fields);
    out
}

/// The operating system as the user agent names it (`Debian 12.0.0`). Looked up once per process: on Linux it runs
/// `lsb_release`, which takes milliseconds.
fn os_description() -> &'static str {
    static OS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    OS.get_or_init(|| {
        let os = os_info::get();
        format!("{} {}", os.os_type(), os.version())
    })
}

/// Starts looking up what the user agent says of the system, so that the first request does not wait for it.
pub fn prepare_user_agent() {
    std::thread::spawn(os_description);
}

/// The variable through which a client (the TypeScript SDK sets `codex_sdk_ts`) names itself as the originator.
pub const ORIGINATOR_OVERRIDE_VAR: &str = "CODEX_INTERNAL_ORIGINATOR_OVERRIDE";
/// What upstream 0.169.0 was seen sending when the override cannot be a header value.
const FALLBACK_ORIGINATOR: &str = "codex_cli_rs";

/// The `originator` header, also the user agent's first word and the session file's `originator`: the override's
/// value when it is set (even empty) and can be sent as a header, `codex_cli_rs` when it cannot, else `default`.
pub fn originator(default: &str) -> String {
    originator_from(std::env::var_os(ORIGINATOR_OVERRIDE_VAR), default)
}

fn originator_from(value: Option<std::ffi::OsString>, default: &str) -> String {
    match value {
        None => default.to_string(),
        Some(value) => match value.into_string() {
            Ok(value) if reqwest::header::HeaderValue::from_str(&value).is_ok() => value,
            _ => FALLBACK_ORIGINATOR.to_string(),
        },
    }
}

/// `codex_exec/0.169.0 (Debian 12.0.0; x86_64) dumb (codex_exec; 0.169.0)`, the shape upstream sends: the
/// originator first, the client (`codex_exec`, whatever the originator) in the parentheses at the end.
pub fn user_agent(originator: &str, client: &str, version: &str) -> String {
    user_agent_of(originator, version, client, version)
}

/// The user agent's shape: `{originator}/{version} ({os}; {arch}) {terminal} ({client}; {client_version})`.
fn user_agent_of(originator: &str, version: &str, client: &str, client_version: &str) -> String {
    let terminal = match std::env::var("TERM_PROGRAM").ok().filter(|t| !t.is_empty()) {
        Some(program) => match std::env::var("TERM_PROGRAM_VERSION").ok().filter(|v| !v.is_empty()) {
            Some(v) => format!("{program}/{v}"),
            None => program,
        },
        None => std::env::var("TERM").ok().filter(|t| !t.is_empty()).unwrap_or_else(|| "unknown".into()),
    };
    let text = format!(
        "{originator}/{version} ({}; {}) {terminal} ({client}; {client_version})",
        os_description(),
        std::env::consts::ARCH
    );
    // Kept as it is when it can be sent (non-ASCII included, as upstream); else printable ASCII only.
    if reqwest::header::HeaderValue::from_str(&text).is_ok() {
        return text;
    }
    text.chars().map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '_' }).collect()
}

/// `workspaces` of the turn metadata: the git repository holding `cwd`, its HEAD and whether it has changes.
pub fn git_workspaces(cwd: &Path) -> Option<Value> {
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git").args(args).current_dir(cwd).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    };
    let root = git(&["rev-parse", "--show-toplevel"])?;
    let mut entry = Map::new();
    if let Some(head) = git(&["rev-parse", "HEAD"]) {
        entry.insert("latest_git_commit_hash".into(), json!(head));
    }
    let changes = git(&["status", "--porcelain"]).map(|s| !s.is_empty()).unwrap_or(false);
    entry.insert("has_changes".into(), json!(changes));
    Some(json!({ root: Value::Object(entry) }))
}

/// Adds tools the pack learned as a run (`{"after", "tools"}` under `key`: the MCP resource tools, a ChatGPT
/// sign-in's) to a request's tools, after the tool upstream puts them after, unless the list has them already (the
/// interface's recipe has the resource tools).
pub fn add_learned_tools(tools: &mut Vec<Value>, pack: &Pack, key: &str) {
    let Some(learned) = pack.text(key) else { return };
    let Ok(learned) = serde_json::from_str::<Value>(learned) else { return };
    let extra = learned.get("tools").and_then(Value::as_array).cloned().unwrap_or_default();
    let name = |t: &Value| t.get("name").and_then(Value::as_str).map(str::to_string);
    if extra.iter().any(|e| tools.iter().any(|t| name(t) == name(e))) {
        return;
    }
    let after = learned.get("after").and_then(Value::as_str);
    let at = tools.iter().position(|t| name(t).as_deref() == after).map_or(tools.len(), |i| i + 1);
    tools.splice(at..at, extra);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;
    use crate::context::resolve_model;

    fn config(model: &str, mode: &str) -> Config {
        let home = tempfile::tempdir().unwrap();
        let text = format!(
            "model = \"{model}\"\nsandbox_mode = \"{mode}\"\nmodel_provider = \"p\"\n[model_providers.p]\nname = \"p\"\nbase_url = \"http://x/v1\"\nenv_key = \"RCODEX_TEST_NO_SUCH_KEY\"\n"
        );
        std::fs::write(home.path().join("config.toml"), text).unwrap();
        Config::load(&Overrides { codex_home: Some(home.path().into()), cwd: Some("/w".into()), ..Default::default() })
            .unwrap()
    }

    fn ids() -> TurnIds {
        TurnIds {
            installation_id: "inst".into(),
            thread_id: "thr".into(),
            turn_id: "trn".into(),
            context_window_id: "cw".into(),
            window_number: 0,
            history_initialization: "new",
            forked_from: None,
            turn_started_at_unix_ms: 1,
            spawned: None,
        }
    }

    #[test]
    fn web_search_follows_its_mode_not_the_sandbox_s_network() {
        let pack = rcodex_prompt_pack::embedded();
        let (model, _) = resolve_model(pack, "gpt-5.5");
        let ids = ids();
        let web = |config: &Config| {
            let cx = RequestContext {
                pack,
                model: &model,
                config,
                ids: &ids,
                workspaces: None,
                output_schema: None,
                client: None,
                surface: Surface::Exec,
            };
            let body = cx.body(&[], &cx.turn_metadata());
            body["tools"].as_array().unwrap().iter().find(|t| t["type"] == "web_search").cloned()
        };
        let mut open = config("gpt-5.5", "workspace-write");
        open.sandbox_workspace_write.network_access = true;
        assert_eq!(web(&open).unwrap()["external_web_access"], false, "the network is not web search");
        for (mode, live) in [(WebSearchMode::Live, Some(true)), (WebSearchMode::Cached, Some(false))] {
            let configured = Config { web_search: Some(mode), ..config("gpt-5.5", "danger-full-access") };
            assert_eq!(web(&configured).map(|w| w["external_web_access"] == true), live, "{mode:?}");
        }
        let off = Config { web_search: Some(WebSearchMode::Disabled), ..config("gpt-5.5", "danger-full-access") };
        assert_eq!(web(&off), None);
    }

    #[test]
    fn the_body_and_headers_follow_upstream_s_order_and_rules() {
        let pack = rcodex_prompt_pack::embedded();
        let config = config("gpt-5.5", "danger-full-access");
        let (model, _) = resolve_model(pack, "gpt-5.5");
        let ids = ids();
        let cx = RequestContext {
            pack,
            model: &model,
            config: &config,
            ids: &ids,
            workspaces: None,
            output_schema: None,
            client: None,
            surface: Surface::Exec,
        };
        let metadata = cx.turn_metadata();
        let body = cx.body(&[json!({"type": "message"})], &metadata);
        let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "model",
                "stream",
                "input",
                "tools",
                "tool_choice",
                "parallel_tool_calls",
                "reasoning",
                "store",
                "include",
                "prompt_cache_key",
                "text",
                "client_metadata"
            ]
        );
        assert_eq!(body["reasoning"], json!({"effort": "medium"}));
        assert_eq!(body["text"], json!({"verbosity": "low"}));
        assert_eq!(body["client_metadata"]["x-codex-turn-metadata"], metadata);
        let web = body["tools"].as_array().unwrap().iter().find(|t| t["type"] == "web_search").unwrap();
        assert_eq!(web["external_web_access"], true, "danger-full-access has the network");
        let meta: Value = serde_json::from_str(&metadata).unwrap();
        assert_eq!((meta["sandbox"].as_str(), meta["window_id"].as_str()), (Some("none"), Some("thr:0")));
        assert!(meta.get("workspaces").is_none());
        let headers = cx.headers(&metadata);
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            &names[..4],
            ["x-codex-beta-features", "x-codex-window-id", "x-codex-turn-metadata", "x-client-request-id"]
        );
        assert!(!names.contains(&"authorization"), "no key in the environment, no authorization");
        let ua = &headers.iter().find(|(n, _)| n == "user-agent").unwrap().1;
        assert!(ua.starts_with("codex_exec/0.169.0 (") && ua.ends_with("(codex_exec; 0.169.0)"), "{ua}");
    }

    #[test]
    fn the_interface_names_itself_and_its_turns_as_upstream_s_interface_does() {
        let pack = rcodex_prompt_pack::embedded();
        let config = config("gpt-5.5", "workspace-write");
        let (model, _) = resolve_model(pack, "gpt-5.5");
        let ids = ids();
        let metadata_of = |surface: Surface| {
            let model = crate::context::for_surface(pack, model.clone(), surface);
            let cx = RequestContext {
                pack,
                model: &model,
                config: &config,
                ids: &ids,
                workspaces: None,
                output_schema: None,
                client: None,
                surface,
            };
            let metadata = cx.turn_metadata();
            let headers = cx.headers(&metadata);
            let header = |name: &str| headers.iter().find(|(n, _)| n == name).unwrap().1.clone();
            let tools = cx.body(&[], &metadata)["tools"].as_array().map(Vec::len).unwrap_or_default();
            (serde_json::from_str::<Value>(&metadata).unwrap(), header("originator"), header("user-agent"), tools)
        };
        let (exec, exec_originator, _, exec_tools) = metadata_of(Surface::Exec);
        assert_eq!((exec["turn_trigger"].as_str(), exec_originator.as_str()), (Some("exec"), "codex_exec"));
        let (tui, originator, agent, tools) = metadata_of(Surface::Tui);
        assert_eq!((tui["turn_trigger"].as_str(), originator.as_str()), (Some("user"), "codex-tui"));
        assert!(agent.starts_with("codex-tui/0.169.0 (") && agent.ends_with(" (codex-tui; 0.169.0)"), "{agent}");
        assert!(tools > exec_tools, "the interface offers more tools (MCP resources): {tools} against {exec_tools}");
        let (title, originator, _, tools) = metadata_of(Surface::TuiTitle);
        assert!(title.get("turn_trigger").is_none(), "a title request has no trigger: {title}");
        assert_eq!((originator.as_str(), tools), ("codex-tui", 1));
    }

    #[test]
    fn a_lite_model_sends_no_tools_and_reasoning_over_all_turns() {
        let pack = rcodex_prompt_pack::embedded();
        let config = config("gpt-5.6-sol", "read-only");
        let (model, _) = resolve_model(pack, "gpt-5.6-sol");
        let ids = ids();
        let schema = json!({"type": "object"});
        let cx = RequestContext {
            pack,
            model: &model,
            config: &config,
            ids: &ids,
            workspaces: None,
            output_schema: Some(&schema),
            client: None,
            surface: Surface::Exec,
        };
        let body = cx.body(&[], &cx.turn_metadata());
        assert!(body.get("tools").is_none());
        assert_eq!(body["parallel_tool_calls"], false);
        assert_eq!(body["reasoning"], json!({"effort": "low", "context": "all_turns"}));
        assert_eq!(body["text"]["format"]["name"], "codex_output_schema");
        assert!(cx.headers("{}").iter().any(|(n, v)| n == "x-openai-internal-codex-responses-lite" && v == "true"));
    }

    #[test]
    fn the_reasoning_summary_is_the_configured_one_else_the_model_s_default() {
        let pack = rcodex_prompt_pack::embedded();
        let ids = ids();
        let reasoning = |slug: &str, summary: Option<&str>| {
            let mut config = config(slug, "read-only");
            config.model_reasoning_summary = summary.map(str::to_string);
            let (model, _) = resolve_model(pack, slug);
            let cx = RequestContext {
                pack,
                model: &model,
                config: &config,
                ids: &ids,
                workspaces: None,
                output_schema: None,
                client: None,
                surface: Surface::Exec,
            };
            cx.body(&[], &cx.turn_metadata())["reasoning"].clone()
        };
        // The catalog's models default to none: nothing is sent.
        assert_eq!(reasoning("gpt-5.5", None), json!({"effort": "medium"}));
        assert_eq!(reasoning("gpt-5.5", Some("detailed")), json!({"effort": "medium", "summary": "detailed"}));
        // A model the catalog does not know has the fallback's default, as recorded.
        let fallback = pack.fallback_model.as_ref().unwrap().default_reasoning_summary.clone().unwrap();
        assert_ne!(fallback, "none");
        assert_eq!(reasoning("never-heard-of", None)["summary"], json!(fallback));
        assert_eq!(reasoning("never-heard-of", Some("none")).get("summary"), None);
    }

    #[test]
    fn the_originator_override_names_the_client_as_upstream_sends_it() {
        let set = |v: &str| Some(std::ffi::OsString::from(v));
        assert_eq!(originator_from(None, "codex_exec"), "codex_exec");
        assert_eq!(originator_from(set("codex_sdk_ts"), "codex_exec"), "codex_sdk_ts");
        assert_eq!(originator_from(set(""), "codex_exec"), "", "set but empty: sent empty, as upstream");
        assert_eq!(originator_from(set("h\u{e9}llo"), "codex_exec"), "h\u{e9}llo");
        assert_eq!(originator_from(set("a\u{1}b"), "codex_exec"), "codex_cli_rs", "not a header value");
        let ua = user_agent("codex_sdk_ts", "codex_exec", "0.169.0");
        assert!(ua.starts_with("codex_sdk_ts/0.169.0 (") && ua.ends_with(" (codex_exec; 0.169.0)"), "{ua}");
        assert!(user_agent("h\u{e9}llo", "codex_exec", "0.169.0").starts_with("h\u{e9}llo/0.169.0"));
    }
}
