//! The server: the client's messages dispatched to handlers, threads loaded and driven, answers and notifications
//! sent back.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rcodex_core::config::{Config, Overrides, SandboxMode};
use rcodex_core::events::{EventSink, UserInput};
use rcodex_core::request::AppClient;
use rcodex_core::session::SessionOptions;
use rcodex_core::thread::ThreadHandle;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::history::{self, History};
use crate::notify::{ThreadEvents, turn_json};
use crate::rpc::{self, Outgoing, Reply, RpcError, now_s};
use crate::server_requests::ServerRequests;

/// How the server was started.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-c key=value` overrides, for every thread.
    pub config: Vec<String>,
    /// `--enable FEATURE`: `features.FEATURE=true`.
    pub enable: Vec<String>,
    /// rcodex itself, which sandboxes commands.
    pub sandbox_launcher: PathBuf,
    pub codex_home: PathBuf,
}

pub struct Server {
    pub(crate) out: Outgoing,
    pub(crate) requests: Arc<ServerRequests>,
    pub(crate) options: Options,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    client: Option<AppClient>,
    initialized: bool,
    /// The client's `capabilities.experimentalApi` (what upstream asks of a client before some requests).
    experimental_api: bool,
    threads: HashMap<String, Arc<Loaded>>,
    /// Configuration warnings already told (each once per process).
    warned: HashSet<String>,
}

/// A thread running in this process.
pub(crate) struct Loaded {
    pub handle: ThreadHandle,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    pub events: Arc<Mutex<ThreadEvents>>,
    /// The thread's settings: those it started with, then those its turns changed (`turn/start`).
    config: Mutex<Config>,
    pub created_at: i64,
    pub ephemeral: bool,
    pub forked_from: Option<String>,
    pub originator: String,
    pub preview: Mutex<String>,
    pub name: Mutex<Option<String>>,
    pub git_info: Mutex<Option<Value>>,
    /// What stops the review running on the thread, if one does (`turn/interrupt`).
    review: Mutex<Option<rcodex_core::review::ReviewStop>>,
}

impl Loaded {
    pub fn config(&self) -> Config {
        self.config.lock().expect("config").clone()
    }

    fn id(&self) -> &str {
        self.handle.thread_id()
    }

    /// Where its session file is (or will be, from its first turn).
    fn path(&self) -> Option<&Path> {
        self.handle.rollout_path()
    }

    fn has_file(&self) -> bool {
        self.path().is_some_and(Path::exists)
    }
}

/// Upstream's message for a thread with no session file (yet).
fn no_rollout(thread_id: &str) -> RpcError {
    RpcError::invalid(format!("no rollout found for thread id {thread_id}"))
}

fn not_found(thread_id: &str) -> RpcError {
    RpcError::invalid(format!("thread not found: {thread_id}"))
}

/// The methods rcodex answers, in the order the refusal of an unknown one lists them.
pub const METHODS: &[&str] = &[
    "initialize",
    "thread/start",
    "thread/resume",
    "thread/fork",
    "thread/archive",
    "thread/unarchive",
    "thread/name/set",
    "thread/metadata/update",
    "thread/compact/start",
    "thread/list",
    "thread/loaded/list",
    "thread/read",
    "thread/turns/list",
    "thread/items/list",
    "skills/list",
    "turn/start",
    "turn/steer",
    "turn/interrupt",
    "review/start",
    "model/list",
    "experimentalFeature/list",
    "account/rateLimits/read",
    "command/exec",
    "config/read",
    "config/value/write",
    "account/read",
    "account/login/start",
    "fuzzyFileSearch",
];

impl Server {
    pub fn new(out: Outgoing, options: Options) -> Arc<Server> {
        let requests = Arc::new(ServerRequests::new(out.clone()));
        Arc::new(Server { out, requests, options, state: Mutex::new(State::default()) })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("server state")
    }

    /// Whether the client said it takes the experimental API.
    pub(crate) fn experimental_api(&self) -> bool {
        self.state().experimental_api
    }

    pub(crate) fn thread(&self, id: &str) -> Option<Arc<Loaded>> {
        self.state().threads.get(id).cloned()
    }

    /// Takes one message of the client's.
    pub fn dispatch(self: &Arc<Self>, message: Value) {
        let Some(object) = message.as_object() else {
            self.out.error(&Value::Null, RpcError::invalid("Invalid request: a message is a JSON object"));
            return;
        };
        let id = object.get("id").cloned();
        match (object.get("method").and_then(Value::as_str), id) {
            (Some(method), Some(id)) => {
                let method = method.to_string();
                let params = object.get("params").cloned().unwrap_or(Value::Null);
                // Taken here, in the order the client wrote it: a request written right after `initialize`, before
                // its answer came, finds the server initialized, as upstream's does.
                if method == "initialize" {
                    return self.initialize(&id, params);
                }
                if !self.state().initialized {
                    self.out.error(&id, RpcError::invalid("Not initialized"));
                    return;
                }
                let server = self.clone();
                tokio::spawn(async move { server.request(id, &method, params).await });
            }
            // Notifications: `initialized` is the only one a client sends that matters here.
            (Some(_), None) => {}
            (None, Some(id)) => {
                if !self.requests.resolve(&message) {
                    self.out.error(&id, RpcError::invalid("Invalid request: not a request, nor the answer to one"));
                }
            }
            (None, None) => {
                self.out.error(&Value::Null, RpcError::invalid("Invalid request: neither a request nor a notification"))
            }
        }
    }

    /// Answers one request (each handler sends its own answer, and what follows it).
    async fn request(self: Arc<Self>, id: Value, method: &str, params: Value) {
        match method {
            "thread/start" => self.thread_start(&id, params).await,
            "thread/resume" => self.thread_resume(&id, params).await,
            "thread/fork" => self.thread_fork(&id, params).await,
            "turn/start" => {
                let reply = self.turn_start(params).await;
                self.out.reply(&id, reply);
            }
            "turn/steer" => {
                let reply = self.turn_steer(params).await;
                self.out.reply(&id, reply);
            }
            "turn/interrupt" => {
                let reply = self.turn_interrupt(params).await;
                self.out.reply(&id, reply);
            }
            "thread/compact/start" => self.thread_compact_start(&id, params),
            "review/start" => self.review_start(&id, params),
            _ => {
                let mut after = Vec::new();
                let reply = crate::methods::call(&self, method, params, &mut after).await;
                self.out.reply(&id, reply);
                for (method, params) in after {
                    self.out.notify(method, params);
                }
            }
        }
    }

    fn initialize(&self, id: &Value, params: Value) {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Params {
            client_info: ClientInfo,
            #[serde(default)]
            capabilities: Option<Value>,
        }
        #[derive(Deserialize)]
        struct ClientInfo {
            name: String,
            version: String,
        }
        let params: Params = match rpc::params(&params) {
            Ok(params) => params,
            Err(e) => return self.out.error(id, e),
        };
        let client = AppClient { name: params.client_info.name, version: params.client_info.version };
        {
            let mut state = self.state();
            if state.initialized {
                drop(state);
                return self.out.error(id, RpcError::invalid("Already initialized"));
            }
            state.initialized = true;
            state.client = Some(client.clone());
            state.experimental_api =
                params.capabilities.as_ref().and_then(|c| c["experimentalApi"].as_bool()) == Some(true);
        }
        let pack = rcodex_prompt_pack::embedded();
        self.out.reply(
            id,
            Ok(json!({
                "userAgent": client.user_agent(&pack.upstream_version),
                "codexHome": self.options.codex_home,
                "platformFamily": "unix",
                "platformOs": std::env::consts::OS,
            })),
        );
        // As upstream without a remote-control connection: it is off.
        if let Ok(installation) = installation_id(&self.options.codex_home) {
            self.out.notify(
                "remoteControl/status/changed",
                json!({"status": "disabled", "serverName": hostname(), "installationId": installation,
                    "environmentId": null}),
            );
        }
    }

    /// The configuration of a thread: the files and `-c` overrides of the process, then the request's own.
    pub(crate) fn load_config(&self, request: &ThreadConfig) -> Result<Config, RpcError> {
        let mut config = self.options.config.clone();
        config.extend(self.options.enable.iter().map(|feature| format!("features.{feature}=true")));
        if let Some(Value::Object(entries)) = &request.config {
            for (key, value) in entries {
                config.push(format!("{key}={}", toml_literal(value)?));
            }
        }
        let cwd = match &request.cwd {
            Some(cwd) => std::env::current_dir().map(|d| d.join(cwd)).unwrap_or_else(|_| PathBuf::from(cwd)),
            None => std::env::current_dir().map_err(|e| RpcError::internal(e.to_string()))?,
        };
        let sandbox_mode = match &request.sandbox {
            Some(mode) => Some(
                mode.parse::<SandboxMode>()
                    .map_err(|_| RpcError::invalid(format!("Invalid request: unknown sandbox mode `{mode}`")))?,
            ),
            None => None,
        };
        let approval_policy = match &request.approval_policy {
            None | Some(Value::Null) => None,
            Some(policy) => Some(crate::overrides::approval_policy(policy)?),
        };
        let overrides = Overrides {
            codex_home: Some(self.options.codex_home.clone()),
            cwd: Some(cwd),
            model: request.model.clone(),
            sandbox_mode,
            approval_policy,
            profile: None,
            config,
            add_dirs: Vec::new(),
            thread_source: None,
            interactive: true,
        };
        Config::load(&overrides).map_err(|e| RpcError::invalid(format!("Error loading config.toml: {e}")))
    }

    /// The configuration of a saved thread taken up again (resumed in a new process, or forked): the request's
    /// settings, else those the thread last recorded, as upstream takes them back (its working directory, model,
    /// approval policy, reasoning effort and summary; the sandbox is the configuration's).
    fn saved_config(&self, saved: &History, mut request: ThreadConfig) -> Result<Config, RpcError> {
        let settings = saved.settings.clone().unwrap_or(Value::Null);
        if request.cwd.is_none() {
            request.cwd = settings["cwd"].as_str().or(saved.meta["cwd"].as_str()).map(str::to_string);
        }
        if request.model.is_none() {
            request.model = saved.model_name().map(str::to_string);
        }
        if request.approval_policy.is_none() {
            request.approval_policy = settings.get("approval_policy").filter(|p| p.is_string()).cloned();
        }
        let effort = ["/reasoning_effort", "/effort", "/collaboration_mode/settings/reasoning_effort"]
            .iter()
            .find_map(|pointer| settings.pointer(pointer).and_then(Value::as_str));
        let given = |key: &str| request.config.as_ref().is_some_and(|c| c.get(key).is_some());
        let mut config = self.load_config(&request)?;
        if let Some(effort) = effort.filter(|_| !given("model_reasoning_effort")) {
            config.model_reasoning_effort = Some(effort.to_string());
        }
        if let Some(summary) = settings["reasoning_summary"].as_str().filter(|_| !given("model_reasoning_summary")) {
            config.model_reasoning_summary = Some(summary.to_string());
        }
        Ok(config)
    }

    /// Where a sub-agent's events go: notifications under its own thread id.
    fn child_events(&self, context_window: Option<u64>, cwd: PathBuf) -> rcodex_core::agents::ChildEvents {
        let out = self.out.clone();
        Arc::new(move |thread_id: &str, root_turn_id: &str| {
            let events = ThreadEvents::for_child(out.clone(), context_window, cwd.clone(), thread_id, root_turn_id);
            let events = Mutex::new(events);
            EventSink::new(move |event| events.lock().expect("child events").handle(event))
        })
    }

    /// Starts a thread, or resumes a saved one, or forks it (`forked_from`: the saved one's id), and keeps it loaded.
    fn spawn_thread(
        &self,
        config: Config,
        resume: Option<PathBuf>,
        forked_from: Option<String>,
        ephemeral: bool,
        preview: String,
    ) -> Result<Arc<Loaded>, RpcError> {
        let client = self.state().client.clone();
        let events = Arc::new(Mutex::new(ThreadEvents::new(
            self.out.clone(),
            context_window(&config.model),
            config.cwd.clone(),
        )));
        let sink = {
            let events = events.clone();
            EventSink::new(move |event| events.lock().expect("thread events").handle(event))
        };
        let originator = client.as_ref().map(AppClient::originator).unwrap_or_default();
        let options = SessionOptions {
            config: config.clone(),
            resume,
            ephemeral,
            output_schema: None,
            sandbox_launcher: self.options.sandbox_launcher.clone(),
            fork: forked_from.is_some().then_some(rcodex_core::session::Fork::Warm),
            client,
            // The client answers approvals and user input (see approvals.rs).
            surface: Default::default(),
            interaction: self.interaction(),
            spawned: None,
            child_events: Some(self.child_events(context_window(&config.model), config.cwd.clone())),
        };
        let (handle, task) = ThreadHandle::spawn(options, sink).map_err(|e| RpcError::invalid(e.to_string()))?;
        let asked = crate::approvals::spawn_resolver(handle.clone(), &events);
        events.lock().expect("thread events").answer_requests(self.requests.clone(), asked);
        let loaded = Arc::new(Loaded {
            handle,
            task: Mutex::new(Some(task)),
            events,
            config: Mutex::new(config),
            created_at: now_s(),
            ephemeral,
            forked_from,
            originator,
            preview: Mutex::new(preview),
            name: Mutex::new(None),
            git_info: Mutex::new(None),
            review: Mutex::new(None),
        });
        let warnings: Vec<String> = {
            let mut events = loaded.events.lock().expect("thread events");
            std::mem::take(&mut events.startup_warnings)
        };
        self.warn(loaded.config().warnings.iter().chain(&warnings));
        self.state().threads.insert(loaded.id().to_string(), loaded.clone());
        Ok(loaded)
    }

    /// `configWarning` for each configuration problem not told yet.
    fn warn<'a>(&self, warnings: impl IntoIterator<Item = &'a String>) {
        for warning in warnings {
            if self.state().warned.insert(warning.clone()) {
                self.out.notify("configWarning", json!({"summary": warning, "details": null}));
            }
        }
    }

    async fn thread_start(&self, id: &Value, params: Value) {
        let request: ThreadConfig = match rpc::params(&params) {
            Ok(request) => request,
            Err(e) => return self.out.error(id, e),
        };
        let loaded = match self
            .load_config(&request)
            .and_then(|config| self.spawn_thread(config, None, None, request.ephemeral.unwrap_or(false), String::new()))
        {
            Ok(loaded) => loaded,
            Err(e) => return self.out.error(id, e),
        };
        let thread = self.loaded_thread_json(&loaded, vec![]);
        let mut response = self.thread_response(&loaded, thread.clone());
        response.insert("multiAgentMode".into(), json!("explicitRequestOnly"));
        self.out.reply(id, Ok(Value::Object(response)));
        self.out.notify("thread/started", json!({"thread": thread}));
    }

    async fn thread_resume(&self, id: &Value, params: Value) {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Params {
            thread_id: String,
            #[serde(default)]
            exclude_turns: bool,
            #[serde(flatten)]
            config: ThreadConfig,
        }
        let params: Params = match rpc::params(&params) {
            Ok(params) => params,
            Err(e) => return self.out.error(id, e),
        };
        let reply = self.resume(&params.thread_id, params.exclude_turns, params.config).await;
        match reply {
            Ok((loaded, response, history)) => {
                self.out.reply(id, Ok(response));
                if let Some((turn, total, last)) = &history.usage {
                    loaded.events.lock().expect("thread events").saved_usage(turn, total, last);
                }
                // A resumed thread has no goal until one is set (rcodex keeps goals with the running thread).
                self.out.notify("thread/goal/cleared", json!({"threadId": loaded.id()}));
            }
            Err(e) => self.out.error(id, e),
        }
    }

    async fn resume(
        &self,
        thread_id: &str,
        exclude_turns: bool,
        request: ThreadConfig,
    ) -> Result<(Arc<Loaded>, Value, History), RpcError> {
        let loaded = match self.thread(thread_id) {
            Some(loaded) => {
                if !loaded.has_file() {
                    return Err(no_rollout(thread_id));
                }
                if !exclude_turns {
                    crate::paging::full_history_notice(&self.out);
                }
                loaded
            }
            None => {
                let path =
                    history::find(&self.options.codex_home, thread_id, false).ok_or_else(|| no_rollout(thread_id))?;
                let saved = history::read(&path).ok_or_else(|| no_rollout(thread_id))?;
                // Told first, as upstream tells it: the answer will carry the whole history.
                if !exclude_turns {
                    crate::paging::full_history_notice(&self.out);
                }
                let config = self.saved_config(&saved, request)?;
                let loaded = self.spawn_thread(config, Some(path), None, false, saved.preview.clone())?;
                loaded.events.lock().expect("thread events").set_first_unread(saved.first_unread());
                self.out.notify("thread/status/changed", json!({"threadId": thread_id, "status": {"type": "idle"}}));
                loaded
            }
        };
        let path = loaded.path().map(Path::to_path_buf).ok_or_else(|| no_rollout(thread_id))?;
        let saved = history::read(&path).ok_or_else(|| no_rollout(thread_id))?;
        let turns = if exclude_turns { vec![] } else { saved.turns_json() };
        let thread = self.loaded_thread_json(&loaded, turns);
        let mut response = self.thread_response(&loaded, thread);
        let config = &loaded.config();
        response.insert(
            "collaborationMode".into(),
            json!({"mode": "default", "settings": {"model": config.model, "reasoning_effort": config.model_reasoning_effort,
                "developer_instructions": null}}),
        );
        response.insert("multiAgentMode".into(), json!("explicitRequestOnly"));
        // Where to page back from (`thread/turns/list`, `thread/items/list`): the newest turn and item.
        let (turns_cursor, items_cursor) = crate::paging::backwards_cursors(&saved);
        response.insert("initialTurnsPage".into(), Value::Null);
        response.insert("turnsBackwardsCursor".into(), turns_cursor);
        response.insert("itemsBackwardsCursor".into(), items_cursor);
        Ok((loaded, Value::Object(response), saved))
    }

    async fn thread_fork(&self, id: &Value, params: Value) {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Params {
            thread_id: String,
            #[serde(default)]
            exclude_turns: bool,
            #[serde(flatten)]
            config: ThreadConfig,
        }
        let params: Params = match rpc::params(&params) {
            Ok(params) => params,
            Err(e) => return self.out.error(id, e),
        };
        match self.fork(&params.thread_id, params.exclude_turns, params.config) {
            Ok((loaded, response, thread, saved)) => {
                // The answer carries the source's whole history, which the client could page instead.
                if !params.exclude_turns {
                    crate::paging::full_history_notice(&self.out);
                }
                self.out.reply(id, Ok(response));
                if let Some((turn, total, last)) = &saved.usage {
                    loaded.events.lock().expect("thread events").saved_usage(turn, total, last);
                }
                self.out.notify("thread/started", json!({"thread": thread}));
            }
            Err(e) => self.out.error(id, e),
        }
    }

    fn fork(
        &self,
        source: &str,
        exclude_turns: bool,
        request: ThreadConfig,
    ) -> Result<(Arc<Loaded>, Value, Value, History), RpcError> {
        let path = match self.thread(source) {
            Some(loaded) if loaded.has_file() => loaded.path().map(Path::to_path_buf),
            Some(_) => None,
            None => history::find(&self.options.codex_home, source, false),
        }
        .ok_or_else(|| no_rollout(source))?;
        let saved = history::read(&path).ok_or_else(|| no_rollout(source))?;
        let ephemeral = request.ephemeral.unwrap_or(false);
        let config = self.saved_config(&saved, request)?;
        // The fork's copied turns are not news to the client: nothing is unread in it yet.
        let loaded =
            self.spawn_thread(config, Some(path), Some(source.to_string()), ephemeral, saved.preview.clone())?;
        let turns = if exclude_turns { vec![] } else { saved.turns_json() };
        let thread = self.loaded_thread_json(&loaded, turns);
        let mut response = self.thread_response(&loaded, thread.clone());
        response.insert("multiAgentMode".into(), json!("explicitRequestOnly"));
        let mut started = thread;
        started["turns"] = json!([]);
        Ok((loaded, Value::Object(response), started, saved))
    }

    /// What `thread/start`, `thread/resume` and `thread/fork` answer besides the thread.
    fn thread_response(&self, loaded: &Loaded, thread: Value) -> Map<String, Value> {
        let config = &loaded.config();
        let mut response = Map::new();
        response.insert("thread".into(), thread);
        response.insert("model".into(), json!(config.model));
        response.insert("modelProvider".into(), json!(config.model_provider_id));
        response.insert("serviceTier".into(), Value::Null);
        response.insert("disabledPluginIds".into(), json!([]));
        response.insert("cwd".into(), json!(config.cwd));
        response.insert("runtimeWorkspaceRoots".into(), json!(config.workspace_roots()));
        response.insert("instructionSources".into(), json!(instruction_sources(&config.cwd)));
        response.insert("approvalPolicy".into(), json!(config.approval_policy.as_str()));
        response.insert("approvalsReviewer".into(), json!("user"));
        response.insert("sandbox".into(), sandbox_json(config));
        response.insert("activePermissionProfile".into(), permission_profile(config));
        response.insert("reasoningEffort".into(), json!(config.model_reasoning_effort));
        response
    }

    /// A loaded thread as the protocol's thread object.
    pub(crate) fn loaded_thread_json(&self, loaded: &Loaded, turns: Vec<Value>) -> Value {
        let config = &loaded.config();
        let status = loaded.events.lock().expect("thread events").status();
        thread_json(&ThreadView {
            id: loaded.id(),
            cwd: &config.cwd,
            roots: config.workspace_roots(),
            forked_from: loaded.forked_from.as_deref(),
            preview: loaded.preview.lock().expect("preview").clone(),
            ephemeral: loaded.ephemeral,
            model_provider: &config.model_provider_id,
            model: Some(&config.model),
            reasoning_effort: config.model_reasoning_effort.as_deref(),
            created_at: loaded.created_at,
            updated_at: loaded.path().and_then(modified).unwrap_or(loaded.created_at),
            status,
            path: loaded.path(),
            originator: &loaded.originator,
            source: "vscode",
            can_accept_direct_input: Some(true),
            git_info: loaded.git_info.lock().expect("git info").clone(),
            name: loaded.name.lock().expect("name").clone(),
            turns,
        })
    }

    async fn turn_start(&self, params: Value) -> Reply {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Params {
            thread_id: String,
            input: Vec<Value>,
            #[serde(default)]
            output_schema: Option<Value>,
        }
        let raw = params;
        let params: Params = rpc::params(&raw)?;
        let loaded = self.thread(&params.thread_id).ok_or_else(|| not_found(&params.thread_id))?;
        let input = user_input(&params.input)?;
        let (overrides, unapplied) = crate::overrides::parse(&raw)?;
        if !unapplied.is_empty() {
            let message = crate::overrides::warning(&unapplied);
            self.out.notify("warning", json!({"threadId": params.thread_id, "message": message}));
        }
        // The thread keeps them: its next turns and `thread/resume` see them (its session applies the same).
        {
            let mut config = loaded.config.lock().expect("config");
            *config = config.with_overrides(&overrides);
        }
        {
            let mut preview = loaded.preview.lock().expect("preview");
            if preview.is_empty() {
                *preview = rcodex_core::events::input_text(&input);
            }
        }
        let schema = params.output_schema.filter(|s| !s.is_null());
        let turn_id = loaded
            .handle
            .start_turn_with(input, schema, overrides, None)
            .await
            .map_err(|_| RpcError::invalid(format!("thread {} has stopped", params.thread_id)))?;
        Ok(json!({"turn": turn_json(&turn_id, vec![], "notLoaded", "inProgress", Value::Null, None, None, None)}))
    }

    /// Compacts a thread's history: answered at once, before the compaction's turn starts (after the running turn,
    /// if any), as upstream answers; the turn is told as it goes.
    fn thread_compact_start(&self, id: &Value, params: Value) {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Params {
            thread_id: String,
        }
        let loaded = rpc::params::<Params>(&params)
            .and_then(|params| self.thread(&params.thread_id).ok_or_else(|| not_found(&params.thread_id)));
        match loaded {
            Ok(loaded) => {
                self.out.reply(id, Ok(json!({})));
                // A thread that stopped meanwhile has nothing left to compact.
                let _ = loaded.handle.compact(None, None);
            }
            Err(error) => self.out.reply(id, Err(error)),
        }
    }

    /// Reviews code as a turn of the thread (upstream's inline delivery, the only one 0.169.0 has): the core's
    /// reviewer runs as a sub-agent of the thread and tells its turn through the thread's notifications. Answered
    /// with the turn before anything of it is told, as upstream answers.
    fn review_start(&self, id: &Value, params: Value) {
        let started = self.review(&params);
        let review = match started {
            Ok(review) => review,
            Err(error) => return self.out.reply(id, Err(error)),
        };
        let (loaded, review, options) = review;
        let thread_id = loaded.id().to_string();
        // The turn shows what is reviewed as the user's message, under the turn's own id.
        let hint = json!([{"type": "text", "text": review.hint, "text_elements": []}]);
        let mut turn = turn_json(&review.turn_id, vec![], "notLoaded", "inProgress", Value::Null, None, None, None);
        turn["rootTurnId"] = Value::Null;
        turn["items"] = json!([crate::items::user_message_pending(&review.turn_id, hint)]);
        self.out.reply(id, Ok(json!({"turn": turn, "reviewThreadId": thread_id})));
        let events = loaded.events.clone();
        // Whether the turn's end was told: a review that fails after its reviewer began has told it already.
        let ended = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let told = ended.clone();
        let sink = EventSink::new(move |event| {
            if matches!(
                event,
                rcodex_core::events::Event::TurnCompleted { .. }
                    | rcodex_core::events::Event::TurnFailed { .. }
                    | rcodex_core::events::Event::TurnAborted { .. }
            ) {
                told.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            events.lock().expect("thread events").handle(event)
        });
        let stop = review.stop.clone();
        *loaded.review.lock().expect("review") = Some(stop.clone());
        tokio::spawn(async move {
            if let Err(message) = review.run(options, sink.clone()).await
                && !ended.load(std::sync::atomic::Ordering::SeqCst)
            {
                let error = rcodex_core::events::ErrorMessage { message };
                sink.emit(rcodex_core::events::Event::TurnFailed { error, turn_id: String::new(), error_info: None });
            }
            let mut running = loaded.review.lock().expect("review");
            if running.as_ref().is_some_and(|r| r.is(&stop)) {
                *running = None;
            }
        });
    }

    /// How the client takes part in its threads' turns: it answers approvals (MCP tools' too) and user input.
    fn interaction(&self) -> rcodex_core::interaction::Interaction {
        rcodex_core::interaction::Interaction {
            answered: true,
            default_mode_request_user_input: crate::approvals::feature_enabled(
                &self.options.codex_home,
                &self.options.config,
                &self.options.enable,
                "default_mode_request_user_input",
            ),
            mcp_approvals: true,
        }
    }

    /// What `review/start` asks for: the thread, the review, and the reviewer's session options (the thread's
    /// settings and client).
    fn review(&self, params: &Value) -> Result<(Arc<Loaded>, rcodex_core::review::Review, SessionOptions), RpcError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Params {
            thread_id: String,
            target: Value,
            #[serde(default)]
            delivery: Option<String>,
        }
        let params: Params = rpc::params(params)?;
        if let Some(delivery) = params.delivery.as_deref().filter(|d| *d != "inline") {
            return Err(RpcError::invalid(format!(
                "Invalid request: delivery \"{delivery}\" is not supported: reviews run inline on the thread given"
            )));
        }
        let target = review_target(&params.target)?;
        let loaded = self.thread(&params.thread_id).ok_or_else(|| not_found(&params.thread_id))?;
        if let Some(running) = loaded.events.lock().expect("thread events").running_turn() {
            // rcodex's words: a review runs beside the thread's turns, never inside one.
            return Err(RpcError::invalid(format!("thread {} is running turn {running}", params.thread_id)));
        }
        let config = loaded.config();
        let review = rcodex_core::review::Review::new(&target, &params.thread_id, &config.cwd)
            .map(|review| review.kept_in(loaded.handle.clone()))
            .map_err(|e| RpcError::invalid(format!("Invalid request: {e}")))?;
        let options = SessionOptions {
            config,
            resume: None,
            ephemeral: false,
            output_schema: None,
            sandbox_launcher: self.options.sandbox_launcher.clone(),
            fork: None,
            client: self.state().client.clone(),
            surface: Default::default(),
            interaction: self.interaction(),
            spawned: None,
            child_events: None,
        };
        Ok((loaded, review, options))
    }

    async fn turn_steer(&self, params: Value) -> Reply {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Params {
            thread_id: String,
            input: Vec<Value>,
            expected_turn_id: String,
        }
        let params: Params = rpc::params(&params)?;
        let loaded = self.thread(&params.thread_id).ok_or_else(|| not_found(&params.thread_id))?;
        let input = user_input(&params.input)?;
        let turn_id = loaded
            .handle
            .steer(input, Some(params.expected_turn_id))
            .await
            .map_err(|e| RpcError::invalid(e.to_string()))?;
        Ok(json!({"turnId": turn_id}))
    }

    async fn turn_interrupt(&self, params: Value) -> Reply {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Params {
            thread_id: String,
            turn_id: String,
        }
        let params: Params = rpc::params(&params)?;
        let loaded = self.thread(&params.thread_id).ok_or_else(|| not_found(&params.thread_id))?;
        let running = loaded.events.lock().expect("thread events").running_turn().map(str::to_string);
        match running {
            None => return Err(RpcError::invalid("no active turn to interrupt")),
            Some(running) if running != params.turn_id => {
                return Err(RpcError::invalid(format!(
                    "expected active turn id `{}` but found `{running}`",
                    params.turn_id
                )));
            }
            Some(_) => {}
        }
        // Answered once the turn has ended, as upstream answers.
        let review = loaded.review.lock().expect("review").take();
        match review {
            Some(review) => review.interrupt().await,
            None => {
                loaded.handle.interrupt().await;
            }
        }
        Ok(json!({}))
    }

    /// Stops a loaded thread (its turn interrupted, its commands ended) and forgets it.
    pub(crate) async fn unload(&self, thread_id: &str) -> Option<Arc<Loaded>> {
        let loaded = self.state().threads.remove(thread_id)?;
        loaded.handle.shutdown().await;
        let task = loaded.task.lock().expect("task").take();
        if let Some(task) = task {
            let _ = task.await;
        }
        Some(loaded)
    }

    pub(crate) fn loaded_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.state().threads.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// The client is gone: every thread ends its turn and its commands.
    pub async fn shutdown(&self) {
        self.requests.cancel_all();
        for id in self.loaded_ids() {
            self.unload(&id).await;
        }
    }
}

/// What a request may say about a thread's configuration (`thread/start`, and the overrides of `thread/resume` and
/// `thread/fork`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ThreadConfig {
    pub cwd: Option<String>,
    pub model: Option<String>,
    pub approval_policy: Option<Value>,
    pub sandbox: Option<String>,
    pub config: Option<Value>,
    pub ephemeral: Option<bool>,
}

/// The protocol's `ReviewTarget` as rcodex's; a field missing or of the wrong type is named.
fn review_target(target: &Value) -> Result<rcodex_core::review::ReviewTarget, RpcError> {
    use rcodex_core::review::ReviewTarget;
    let field = |name: &str| -> Result<String, RpcError> {
        match target.get(name) {
            Some(Value::String(value)) => Ok(value.clone()),
            Some(_) => Err(RpcError::invalid(format!("Invalid request: target.{name} must be a string"))),
            None => Err(RpcError::invalid(format!("Invalid request: target.{name} is missing"))),
        }
    };
    match target.get("type").and_then(Value::as_str) {
        Some("uncommittedChanges") => Ok(ReviewTarget::Uncommitted),
        Some("baseBranch") => Ok(ReviewTarget::BaseBranch { branch: field("branch")? }),
        Some("commit") => {
            let title = match target.get("title") {
                None | Some(Value::Null) => None,
                Some(_) => Some(field("title")?),
            };
            Ok(ReviewTarget::Commit { sha: field("sha")?, title })
        }
        Some("custom") => Ok(ReviewTarget::Custom { instructions: field("instructions")? }),
        Some(other) => Err(RpcError::invalid(format!(
            "Invalid request: target.type \"{other}\" is not uncommittedChanges, baseBranch, commit or custom"
        ))),
        None => Err(RpcError::invalid(
            "Invalid request: target.type is missing (uncommittedChanges, baseBranch, commit or custom)",
        )),
    }
}

/// The protocol's `UserInput` list as rcodex's.
fn user_input(input: &[Value]) -> Result<Vec<UserInput>, RpcError> {
    input
        .iter()
        .map(|part| {
            let text = |key: &str| part.get(key).and_then(Value::as_str).map(str::to_string);
            match part.get("type").and_then(Value::as_str) {
                Some("text") => Ok(UserInput::Text { text: text("text").unwrap_or_default() }),
                Some("image") => Ok(UserInput::Image { url: text("url").unwrap_or_default() }),
                Some("localImage") => Ok(UserInput::LocalImage { path: text("path").unwrap_or_default().into() }),
                Some("skill") => Ok(UserInput::Skill {
                    name: text("name").unwrap_or_default(),
                    path: text("path").unwrap_or_default().into(),
                }),
                Some(other) => Err(RpcError::invalid(format!(
                    "Invalid request: input of type `{other}` is not supported by rcodex"
                ))),
                None => Err(RpcError::invalid("Invalid request: missing field `type`")),
            }
        })
        .collect()
}

/// A JSON value as a TOML value, for a `-c` override.
fn toml_literal(value: &Value) -> Result<String, RpcError> {
    let value = toml::Value::try_from(value).map_err(|e| RpcError::invalid(format!("Invalid request: config: {e}")))?;
    Ok(match &value {
        toml::Value::Table(table) => {
            let inline: Vec<String> = table.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            format!("{{ {} }}", inline.join(", "))
        }
        other => other.to_string(),
    })
}

/// What the thread object says, from a loaded thread or a session file.
pub(crate) struct ThreadView<'a> {
    pub id: &'a str,
    pub cwd: &'a Path,
    pub roots: Vec<PathBuf>,
    pub forked_from: Option<&'a str>,
    pub preview: String,
    pub ephemeral: bool,
    pub model_provider: &'a str,
    pub model: Option<&'a str>,
    pub reasoning_effort: Option<&'a str>,
    pub created_at: i64,
    pub updated_at: i64,
    pub status: Value,
    pub path: Option<&'a Path>,
    pub originator: &'a str,
    pub source: &'a str,
    pub can_accept_direct_input: Option<bool>,
    pub git_info: Option<Value>,
    pub name: Option<String>,
    pub turns: Vec<Value>,
}

pub(crate) fn thread_json(t: &ThreadView) -> Value {
    let pack = rcodex_prompt_pack::embedded();
    json!({
        "id": t.id,
        "environments": [{"environmentId": "local", "cwd": t.cwd, "runtimeWorkspaceRoots": t.roots}],
        "extra": null,
        "sessionId": t.id,
        "forkedFromId": t.forked_from,
        "attachedToThreadId": null,
        "parentThreadId": null,
        "preview": t.preview,
        "ephemeral": t.ephemeral,
        "section": null,
        "sectionEnteredAt": null,
        "projectId": null,
        "historyMode": "paginated",
        "modelProvider": t.model_provider,
        "model": t.model,
        "reasoningEffort": t.reasoning_effort,
        "createdAt": t.created_at,
        "updatedAt": t.updated_at,
        "recencyAt": t.created_at,
        "status": t.status,
        "path": t.path,
        "cwd": t.cwd,
        "cliVersion": pack.upstream_version,
        "originator": t.originator,
        "source": t.source,
        "canAcceptDirectInput": t.can_accept_direct_input,
        "threadSource": null,
        "agentNickname": null,
        "agentRole": null,
        "gitInfo": t.git_info,
        "name": t.name,
        "daybreakEnabled": null,
        "turns": t.turns,
    })
}

/// The protocol's sandbox policy of a configuration.
fn sandbox_json(config: &Config) -> Value {
    let options = &config.sandbox_workspace_write;
    match config.sandbox_mode {
        SandboxMode::ReadOnly => json!({"type": "readOnly", "networkAccess": false}),
        SandboxMode::WorkspaceWrite => json!({
            "type": "workspaceWrite",
            "writableRoots": options.writable_roots,
            "networkAccess": options.network_access,
            "excludeTmpdirEnvVar": options.exclude_tmpdir_env_var,
            "excludeSlashTmp": options.exclude_slash_tmp,
        }),
        SandboxMode::DangerFullAccess => json!({"type": "dangerFullAccess"}),
    }
}

/// The built-in permission profile upstream names when no sandbox mode was asked for (`:read-only`, the default); a
/// mode asked for anywhere (a request, config.toml) is no named profile.
fn permission_profile(config: &Config) -> Value {
    match config.sandbox_mode {
        SandboxMode::ReadOnly if !config.sandbox_mode_configured => json!({"id": ":read-only", "extends": null}),
        _ => Value::Null,
    }
}

/// The AGENTS.md files the context takes: the working directory's and its ancestors' up to the repository root.
fn instruction_sources(cwd: &Path) -> Vec<PathBuf> {
    let root = cwd.ancestors().find(|dir| dir.join(".git").exists());
    let mut dirs: Vec<&Path> = match root {
        Some(root) => cwd.ancestors().take_while(|d| *d != root).chain(std::iter::once(root)).collect(),
        None => vec![cwd],
    };
    dirs.reverse();
    dirs.into_iter().map(|d| d.join("AGENTS.md")).filter(|p| p.is_file()).collect()
}

/// The usable context window of a model, as upstream reports it (95% of the catalog's).
pub(crate) fn context_window(model: &str) -> Option<u64> {
    let pack = rcodex_prompt_pack::embedded();
    let info = pack.models.iter().find(|m| m.slug == model)?;
    info.context_window.map(|w| w * 95 / 100)
}

/// A file's last modification, in seconds since the epoch.
pub(crate) fn modified(path: &Path) -> Option<i64> {
    let time = std::fs::metadata(path).ok()?.modified().ok()?;
    time.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs() as i64)
}

/// `CODEX_HOME/installation_id`: read, or made (as a session makes it).
fn installation_id(codex_home: &Path) -> std::io::Result<String> {
    let path = codex_home.join("installation_id");
    if let Ok(id) = std::fs::read_to_string(&path)
        && !id.trim().is_empty()
    {
        return Ok(id.trim().to_string());
    }
    let id = uuid::Uuid::new_v4().to_string();
    std::fs::create_dir_all(codex_home)?;
    std::fs::write(&path, &id)?;
    Ok(id)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}
