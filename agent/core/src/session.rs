//! A session: one thread of conversation with the model, new or resumed, and the turn loop.
//!
//! A turn samples the model, keeps every output item as it arrives (so a retried request carries what was already
//! received, as upstream's does), runs the tool calls of the response through the router, feeds their outputs back,
//! and samples again until the model answers without calling a tool. Everything is appended to the session's rollout
//! file as it happens.

use std::path::PathBuf;
use std::sync::Arc;

use rcodex_prompt_pack::Pack;
use serde_json::{Value, json};

use crate::client::{ApiError, ModelClient, ResponseEvent, Usage, backoff};
use crate::config::{Config, TurnOverrides};
use crate::context::{self, Environment, ModelProfile};
use crate::events::{ErrorMessage, Event, EventSink, Item, ItemDetails, UserInput};
use crate::images::ImageDetail;
use crate::interaction::{Asker, Interaction};
use crate::items;
use crate::request::{AppClient, RequestContext, Surface, TurnIds, git_workspaces};
use crate::rollout::{self, Rollout, SessionMeta};
use crate::tools::{RuntimeOptions, ToolCall, ToolOutput, ToolRuntime, Tools};

#[path = "compact.rs"]
mod compact;

/// How a session starts.
/// Where a fork's source is, as upstream's turn metadata tells it (`history_initialization`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fork {
    /// A thread the process holds (the app server's `thread/fork`, the interface's `/fork`).
    Warm,
    /// A session read from its file as the process starts (`rcodex fork`).
    Cold,
}

impl Fork {
    fn history_initialization(self) -> &'static str {
        match self {
            Fork::Warm => "warm_fork",
            Fork::Cold => "cold_fork",
        }
    }
}

pub struct SessionOptions {
    pub config: Config,
    /// Resume this saved session instead of starting a new one.
    pub resume: Option<PathBuf>,
    /// Write no rollout file.
    pub ephemeral: bool,
    /// `--output-schema`: the final answer must follow this JSON schema.
    pub output_schema: Option<Value>,
    /// The program that sets up the sandbox of each command: rcodex itself, whose `main` hands
    /// [`rcodex_sandbox::LAUNCHER_SUBCOMMAND`] to [`rcodex_sandbox::run_launcher`].
    pub sandbox_launcher: PathBuf,
    /// With `resume`: start a new thread with a copy of the saved session's history (a fork) instead of
    /// continuing it.
    pub fork: Option<Fork>,
    /// The app-server client driving the session (`None`: exec). It names the session to the model server
    /// (originator, user agent) as upstream's app server names it.
    pub client: Option<AppClient>,
    /// Which frontend drives the session: the interactive interface names itself as upstream's does (originator,
    /// user agent, `turn_trigger`), with its own context and tools; its title requests are sessions of their own.
    pub surface: Surface,
    /// Whether the frontend answers approval and user-input requests (see [`crate::interaction`]).
    pub interaction: Interaction,
    /// A sub-agent's parent (see [`crate::agents`]): such a session spawns none of its own.
    pub spawned: Option<crate::agents::SpawnedBy>,
    /// Where the events of the session's sub-agents go (the app server shows their threads); `None`: nowhere.
    pub child_events: Option<crate::agents::ChildEvents>,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Context(#[from] context::ContextError),
    #[error(transparent)]
    Rollout(#[from] rollout::RolloutError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Client(#[from] ApiError),
}

/// How a turn ended.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnSummary {
    /// The text of the last assistant message.
    pub last_message: Option<String>,
    pub usage: Usage,
}

pub struct Session {
    pack: &'static Pack,
    config: Config,
    model: ModelProfile<'static>,
    model_client: ModelClient,
    thread_id: String,
    installation_id: String,
    context_window_id: String,
    /// Which context window of the thread its requests are in: one more after each compaction.
    window_number: u32,
    /// Items rebuilt for every request and never saved: those with name-based ids (the model's instructions), which
    /// upstream regenerates on resume with the same id.
    prefix: Vec<Value>,
    history: Vec<Value>,
    rollout: Option<Rollout>,
    /// How the history of the next turn's thread came to be: `new`, or `cold_resume` / `warm_fork` until the first
    /// turn of this process has run.
    history_initialization: &'static str,
    client: Option<AppClient>,
    surface: Surface,
    /// A fork's source thread and where in its session file it branched off (records before it, exclusive).
    forked_from: Option<(String, u64)>,
    /// The last response's usage, saved with the thread's.
    last_usage: Usage,
    events: EventSink,
    output_schema: Option<Value>,
    tools: Arc<ToolRuntime>,
    /// The thread's token usage so far (across processes: a resumed thread starts from its file's).
    usage: Usage,
    /// Warnings about the configuration and the model, not told yet.
    warnings: Vec<String>,
    /// What a new thread's first turn records before its input, as upstream does: the model's context, and the world
    /// it describes. Empty once written (and for a resumed thread or a fork, whose context is in their files).
    first_turn: Option<FirstTurn>,
    /// The environment the context describes.
    environment: Environment,
    /// No turn has run in this thread yet (a new thread): a turn's settings then make its context anew.
    fresh: bool,
    /// Tool items completed while calls ran, for the session file.
    tool_items: crate::records::ToolItems,
    /// The running turn's usage.
    turn_usage: Usage,
    /// The usage of remote compactions (the built-in provider's), which the thread's usage told to clients leaves
    /// out, as upstream's does, and its usage records count.
    compaction_usage: Usage,
    /// The turn running (or last run): the one the items recorded now entered the conversation in.
    turn_id: String,
    /// What a new thread keeps before its context until its first turn (a review's findings), which a context made
    /// anew by that turn's settings keeps in front too.
    before_context: Vec<Value>,
    /// A sub-agent's parent.
    spawned: Option<crate::agents::SpawnedBy>,
    /// What the session's children tell it, taken into its history at its next request.
    inbox: crate::agents::Inbox,
}

/// What a new thread's first turn records.
struct FirstTurn {
    context: Vec<Value>,
}

impl Session {
    /// Starts a new session, or resumes a saved one, and announces its thread. Must be called within a tokio
    /// runtime.
    pub fn start(options: SessionOptions, events: EventSink) -> Result<Session, SessionError> {
        crate::request::prepare_user_agent();
        let pack = rcodex_prompt_pack::embedded();
        let mut config = options.config;
        if options.spawned.is_some() {
            config.thread_source = "subagent".to_string();
        }
        let (model, model_warning) = context::resolve_model(pack, &config.model);
        let model = context::for_surface(pack, model, options.surface);
        let model = crate::review::profile(pack, model, &config);
        let model = if options.spawned.is_some() { model.for_subagent() } else { model };
        let surface = options.surface;
        // Told with the first turn, as upstream tells them: after the thread is announced (and a frontend's header).
        let mut warnings = config.warnings.clone();
        if !config.under_development_features.is_empty()
            && let Some(template) = pack.texts.get(rcodex_prompt_pack::keys::UNDER_DEVELOPMENT_FEATURES)
        {
            let features = config.under_development_features.join(", ");
            let config_path = config.codex_home.join("config.toml").display().to_string();
            let values = [("features", features.as_str()), ("config_path", config_path.as_str())];
            warnings.extend(rcodex_prompt_pack::render(template, &values).ok());
        }
        warnings.extend(model_warning);
        let model_client = ModelClient::new(config.model_provider.clone())?.with_codex_home(config.codex_home.clone());
        let installation_id = installation_id(&config.codex_home)?;
        // Upstream goes on without its system skills when they cannot be written; so does rcodex.
        let _ = crate::skills::install_system_skills(&config.codex_home);
        let environment = environment(&config)?;

        let client = options.client;
        let meta_for = |thread_id: &str, context_window_id: &str, config: &Config, forked_from: Option<String>| {
            SessionMeta {
                thread_id: thread_id.to_string(),
                cwd: config.cwd.clone(),
                workspace_roots: config.workspace_roots(),
                // Upstream's app server leaves a thread unclassified, and says which client made it.
                thread_source: if client.is_some() { String::new() } else { config.thread_source.clone() },
                source: if client.is_some() {
                    "vscode"
                } else if surface != Surface::Exec {
                    "cli"
                } else {
                    "exec"
                }
                .to_string(),
                model: config.model.clone(),
                model_provider: config.model_provider_id.clone(),
                originator: match &client {
                    Some(client) => client.originator(),
                    None => crate::request::originator(surface.originator(pack)),
                },
                cli_version: pack.upstream_version.clone(),
                context_window_id: context_window_id.to_string(),
                forked_from_id: forked_from,
            }
        };

        // A fork's source and how many of its records it took, for the turn metadata.
        let mut forked_from = None;
        let resumed_from = options.resume.clone().filter(|_| options.fork.is_none());
        let mut first_turn = None;
        // A resumed thread (or a fork) goes on in its context window (a compaction opens a new one).
        let mut window_number = 0;
        // What differs between a new session and a resumed one: its ids, its history and its file.
        let (thread_id, context_window_id, prefix, history, rollout, history_initialization, usage) = match options
            .resume
        {
            Some(path) if let Some(fork) = options.fork => {
                // A new thread on a copy of the saved one: its history and its context window, under a new id.
                let saved = rollout::load(&path)?;
                window_number = saved.window_number;
                let thread_id = uuid::Uuid::now_v7().to_string();
                let context = context::initial_context(pack, &model, &environment, &thread_id)?;
                let prefix = name_based(&model, context);
                let context_window_id = saved.meta.context_window_id.clone();
                let mut rollout = None;
                // The fork refers to its source's records (all of them so far) rather than copying them, as upstream's.
                let base =
                    rollout::history_base(&path).map_err(|source| SessionError::Io { path: path.clone(), source })?;
                forked_from = Some((saved.meta.thread_id.clone(), base.end_ordinal_exclusive));
                if !options.ephemeral {
                    let meta = meta_for(&thread_id, &context_window_id, &config, Some(saved.meta.thread_id.clone()));
                    let mut file = Rollout::fork(&config.codex_home, &meta, &base)
                        .map_err(|source| SessionError::Io { path: config.codex_home.join("sessions"), source })?;
                    // Its settings are set when it is made.
                    let settings = crate::records::thread_settings_applied(&thread_id, &config, &model.slug);
                    file.append("event_msg", settings)
                        .map_err(|source| SessionError::Io { path: file.path().into(), source })?;
                    rollout = Some(file);
                }
                let usage = (saved.total_usage.unwrap_or_default(), saved.last_usage.unwrap_or_default());
                (thread_id, context_window_id, prefix, saved.items, rollout, fork.history_initialization(), usage)
            }
            Some(path) => {
                let saved = rollout::load(&path)?;
                window_number = saved.window_number;
                let thread_id = saved.meta.thread_id.clone();
                // As upstream: a resumed thread keeps the classification it was created with (`--thread-source`
                // counts for new threads only).
                if !saved.meta.thread_source.is_empty() {
                    config.thread_source = saved.meta.thread_source.clone();
                }
                let context = context::initial_context(pack, &model, &environment, &thread_id)?;
                let prefix = name_based(&model, context);
                let rollout = if options.ephemeral {
                    None
                } else {
                    let mut file =
                        Rollout::reopen(&path).map_err(|source| SessionError::Io { path: path.clone(), source })?;
                    // `exec resume` sets the thread's settings again (the app server's resume keeps them).
                    if client.is_none() {
                        let settings = crate::records::thread_settings_applied(&thread_id, &config, &model.slug);
                        file.append("event_msg", settings).map_err(|source| SessionError::Io { path, source })?;
                    }
                    Some(file)
                };
                let usage = (saved.total_usage.unwrap_or_default(), saved.last_usage.unwrap_or_default());
                (thread_id, saved.meta.context_window_id, prefix, saved.items, rollout, "cold_resume", usage)
            }
            None => {
                let thread_id = uuid::Uuid::now_v7().to_string();
                let mut context_window_id = uuid::Uuid::now_v7().to_string();
                let context = context::initial_context(pack, &model, &environment, &thread_id)?;
                let (prefix, mut history) = split_prefix(&model, context);
                let mut initialization = "new";
                // A child spawned with `fork_context` starts from its parent's messages, in the parent's context
                // window, not from a context of its own.
                if let Some(forked) = options.spawned.as_ref().and_then(|s| s.forked.as_ref()) {
                    history = forked_history(pack, &forked.messages);
                    context_window_id = forked.context_window_id.clone();
                    window_number = forked.window_number;
                    initialization = "warm_fork";
                }
                // As upstream: what a SessionStart hook adds follows the context, as a developer message.
                if config.bypass_hook_trust {
                    let input = json!({"session_id": thread_id, "source": "startup"});
                    for text in crate::hooks::additional_context(&config.codex_home, "SessionStart", input, &config.cwd)
                    {
                        history.push(items::canonical(items::message("developer", items::new_id("msg"), [text]), pack));
                    }
                }
                let mut rollout = None;
                if !options.ephemeral {
                    let meta = meta_for(&thread_id, &context_window_id, &config, None);
                    let file = Rollout::create(&config.codex_home, &meta)
                        .map_err(|source| SessionError::Io { path: config.codex_home.join("sessions"), source })?;
                    rollout = Some(file);
                    // The context is recorded by the first turn, after its start.
                    first_turn = Some(FirstTurn { context: history.clone() });
                }
                (
                    thread_id,
                    context_window_id,
                    prefix,
                    history,
                    rollout,
                    initialization,
                    (Usage::default(), Usage::default()),
                )
            }
        };
        // The items' metadata a session file kept (the built-in provider's) goes back to the client that sends it.
        let mut history = history;
        model_client.restore_metadata(&mut history);
        let asker = Arc::new(Asker::new(events.clone(), options.interaction));
        // The items the tools complete are recorded in the session file too.
        let tool_items = crate::records::ToolItems::default();
        let tool_events = {
            let tool_items = tool_items.clone();
            events.tapped(move |event| tool_items.observe(event))
        };
        let inbox = crate::agents::Inbox::default();
        // A sub-agent spawns none (upstream's depth limit of one).
        let agents = options.spawned.is_none().then(|| {
            let base = crate::agents::SpawnBase {
                config: config.clone(),
                sandbox_launcher: options.sandbox_launcher.clone(),
                client: client.clone(),
                surface,
                interaction: options.interaction,
                child_events: options.child_events.clone().unwrap_or_else(|| Arc::new(|_, _| EventSink::discard())),
            };
            Arc::new(crate::agents::Agents::new(base, thread_id.clone(), thread_id.clone(), inbox.clone()))
        });
        let tools = Arc::new(ToolRuntime::new(RuntimeOptions {
            config: &config,
            pack,
            family_slug: model.family_slug.clone(),
            image_input: model.info.is_none_or(|info| info.input_modalities.iter().any(|m| m == "image")),
            thread_id: thread_id.clone(),
            events: tool_events.clone(),
            sandbox_launcher: options.sandbox_launcher.clone(),
            asker,
            agents,
        }));
        let session = Session {
            spawned: options.spawned,
            inbox,
            tools,
            first_turn,
            fresh: history_initialization == "new",
            // A resumed thread's model was last told of the settings of its last turn.
            environment: resumed_from.and_then(|path| told_environment(&path, &config)).unwrap_or(environment),
            tool_items,
            turn_usage: Usage::default(),
            compaction_usage: Usage::default(),
            turn_id: String::new(),
            before_context: Vec::new(),
            usage: usage.0,
            warnings,
            pack,
            model,
            model_client,
            thread_id,
            installation_id,
            context_window_id,
            window_number,
            prefix,
            history,
            rollout,
            history_initialization,
            client,
            surface,
            forked_from,
            // The context's size when the thread was saved, which a compaction before its next turn is judged by.
            last_usage: usage.1,
            events,
            output_schema: options.output_schema,
            config,
        };
        session.events.emit(Event::ThreadStarted { thread_id: session.thread_id.clone() });
        Ok(session)
    }

    pub fn thread_id(&self) -> &str {
        &self.thread_id
    }

    /// Where the frontend's answers to the tools' requests go ([`crate::thread::Op::Resolve`]).
    pub fn asker(&self) -> Arc<Asker> {
        self.tools.asker()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn rollout_path(&self) -> Option<&std::path::Path> {
        self.rollout.as_ref().map(Rollout::path)
    }

    fn save(&mut self, kind: &str, mut payload: Value) {
        if kind == "response_item" {
            self.model_client.keep_metadata(&mut payload, &self.turn_id, true);
        }
        if let Some(rollout) = &mut self.rollout
            && let Err(e) = rollout.append(kind, payload)
        {
            // The turn goes on; the user learns the session file is incomplete.
            self.events.emit(Event::Error {
                message: format!("could not write the session file: {e}"),
                ends_turn: false,
                reconnect: None,
            });
        }
    }

    fn record(&mut self, item: Value) {
        self.save("response_item", item.clone());
        self.history.push(item);
    }

    /// Records the outputs of a response's calls, in order, each after the item its tool completed (a command that
    /// ran, a patch applied, an image viewed), as upstream records them. Items completed by another call than their
    /// own (a command that ended while `write_stdin` polled it) come before the first output. Returns what answers
    /// no call (the objective a goal tool adds), which upstream records after the response's `token_count`.
    #[must_use]
    fn record_outputs(&mut self, turn_id: &str, outputs: Vec<Value>) -> Vec<Value> {
        let call_id = |item: &Value| item.get("call_id").and_then(Value::as_str).unwrap_or_default().to_string();
        let (outputs, extras): (Vec<Value>, Vec<Value>) = outputs.into_iter().partition(|o| !call_id(o).is_empty());
        let output_ids: Vec<String> = outputs.iter().map(call_id).collect();
        let (mut own, mut others): (Vec<_>, Vec<_>) =
            self.tool_items.take().into_iter().partition(|(id, ..)| output_ids.contains(id));
        let write = |session: &mut Session, completed: Vec<(String, Value, i64, i64)>| {
            for (_, item, started, ended) in completed {
                let record = crate::records::item_completed(&session.thread_id, turn_id, item, started, ended);
                session.save("event_msg", record);
            }
        };
        write(self, std::mem::take(&mut others));
        for output in outputs {
            let id = call_id(&output);
            let (mine, rest) = std::mem::take(&mut own).into_iter().partition(|(call, ..)| *call == id);
            own = rest;
            write(self, mine);
            if let Some(path) = self.viewed_image(&output) {
                let now = crate::records::now_ms();
                write(self, vec![(id, crate::records::image_view(&call_id(&output), &path), now, now)]);
            }
            let output = items::canonical(output, self.pack);
            self.record(output);
        }
        extras
    }

    /// The image a `view_image` call showed the model, if its output is one.
    fn viewed_image(&self, output: &Value) -> Option<PathBuf> {
        let parts = output.get("output")?.as_array()?;
        if !parts.iter().any(|p| p.get("type").and_then(Value::as_str) == Some("input_image")) {
            return None;
        }
        let call_id = output.get("call_id")?.as_str()?;
        let call = self.history.iter().rev().find(|item| {
            item.get("call_id").and_then(Value::as_str) == Some(call_id)
                && item.get("name").and_then(Value::as_str) == Some("view_image")
        })?;
        let arguments: Value = serde_json::from_str(call.get("arguments")?.as_str()?).ok()?;
        Some(self.config.cwd.join(arguments.get("path")?.as_str()?))
    }

    /// Keeps a review's findings (as its frontend showed them) in the history, as upstream 0.169.0 keeps a review
    /// run beside the thread's turns (`app-review-followup`): the user's action (the pack's template, the findings
    /// in it), then the findings as the model's message. A thread that has not run a turn yet has them before its
    /// context, as upstream's next request carries them.
    pub fn record_review(&mut self, findings: &str, message_id: String) {
        let Some(action) = self
            .pack
            .text(rcodex_prompt_pack::keys::REVIEW_USER_ACTION)
            .and_then(|template| rcodex_prompt_pack::render(template, &[("results", findings)]).ok())
        else {
            return;
        };
        let user = items::message("user", items::new_id("msg"), [action]);
        // Under the id of the message the review closed with.
        let answer = json!({"type": "message", "id": message_id, "role": "assistant",
            "content": [{"type": "output_text", "text": findings}]});
        if self.fresh {
            // Recorded with the context, at the first turn.
            let at = self.before_context.len();
            if let Some(first_turn) = &mut self.first_turn {
                first_turn.context.splice(at..at, [user.clone(), answer.clone()]);
            }
            self.history.splice(at..at, [user.clone(), answer.clone()]);
            self.before_context.extend([user, answer]);
        } else {
            self.record(user);
            self.record(answer);
        }
    }

    /// The record of a response's usage, with the turn's and the thread's so far (remote compactions included).
    fn usage_record(&self, turn_id: &str, response_id: Option<String>, usage: &Usage) -> Value {
        let mut thread = self.usage;
        thread.add(&self.compaction_usage);
        json!({"thread_id": self.thread_id, "turn_id": turn_id, "session_id": self.thread_id,
            "root_turn_id": turn_id, "response_id": response_id,
            "usage": crate::records::usage(usage),
            "turn_token_usage": crate::records::usage(&self.turn_usage),
            "thread_token_usage": crate::records::usage(&thread)})
    }

    /// The ids a turn's requests carry; the first turn after a resume or fork says how its history began, later
    /// ones say `new`.
    fn turn_ids(&mut self, turn_id: &str) -> TurnIds {
        self.turn_id = turn_id.to_string();
        TurnIds {
            installation_id: self.installation_id.clone(),
            thread_id: self.thread_id.clone(),
            turn_id: turn_id.to_string(),
            context_window_id: self.context_window_id.clone(),
            window_number: self.window_number,
            history_initialization: std::mem::replace(&mut self.history_initialization, "new"),
            forked_from: self.forked_from.clone(),
            turn_started_at_unix_ms: jiff::Timestamp::now().as_millisecond() as u64,
            spawned: self.spawned.clone(),
        }
    }

    /// Records the settings a turn runs with; a compaction's record names no reasoning effort (`with_effort`
    /// false), as upstream's does.
    fn save_turn_context(&mut self, turn_id: &str, with_effort: bool) {
        let mut record = json!({
            "turn_id": turn_id,
            "root_turn_id": turn_id,
            "cwd": self.config.cwd,
            "approval_policy": self.config.approval_policy.as_str(),
            "sandbox_policy": {"type": self.config.sandbox_mode.as_str()},
            "model": self.model.slug,
        });
        if with_effort {
            record["effort"] = json!(self.config.model_reasoning_effort);
        }
        self.save("turn_context", record);
    }

    /// Writes a new thread's session file, which exists from its first turn on (a compaction counts as one).
    fn materialize_rollout(&mut self) {
        if let Some(rollout) = &mut self.rollout
            && let Err(e) = rollout.materialize()
        {
            self.events.emit(Event::Error {
                message: format!("could not write the session file: {e}"),
                ends_turn: false,
                reconnect: None,
            });
        }
    }

    /// Runs one turn for the user's input: samples the model until it answers without calling a tool and no steer
    /// is waiting, taking steers and an interrupt from `control` as it goes.
    pub async fn run_turn(&mut self, input: Vec<UserInput>, control: &TurnControl) -> Result<TurnSummary, TurnError> {
        let turn_id = control.turn_id.clone();
        let mut ids = self.turn_ids(&turn_id);
        let started = std::time::Instant::now();
        let resumed = ids.history_initialization == "cold_resume";
        let previous_model = (!self.fresh).then(|| self.model.clone());
        let updates = self.apply_overrides(&control.overrides, resumed).await;
        self.fresh = false;
        self.materialize_rollout();
        self.tools.asker().begin_turn(&turn_id, control.cancel.clone());
        self.tools.begin_turn(&turn_id);
        for warning in std::mem::take(&mut self.warnings) {
            self.events.completed(ItemDetails::Error { message: warning });
        }
        self.events.emit(Event::TurnStarted { turn_id: turn_id.clone() });
        self.turn_usage = Usage::default();
        self.save(
            "event_msg",
            json!({"type": "task_started", "turn_id": turn_id, "root_turn_id": turn_id,
                "started_at": ids.turn_started_at_unix_ms / 1000, "model_context_window": self.context_window(),
                "collaboration_mode_kind": "default"}),
        );
        // A new thread's first turn records the model's context and the world it describes.
        let first_turn = self.first_turn.take();
        if let Some(first_turn) = &first_turn {
            for item in &first_turn.context {
                self.save("response_item", item.clone());
            }
            let world = crate::records::world_state(&self.environment, &self.model.slug, &first_turn.context);
            self.save("world_state", world);
        }
        self.save_turn_context(&turn_id, true);
        if first_turn.is_some() {
            let settings = crate::records::thread_settings_applied(&self.thread_id, &self.config, &self.model.slug);
            self.save("event_msg", settings);
        }
        // A model of another compaction family gets the history summarized by the previous one, in a fresh context
        // (which tells what the settings changed); otherwise what changed is told before the turn's input.
        // So does a thread whose context has reached its limit, summarized by its own model.
        let switched = previous_model.as_ref().filter(|previous| compact::compacts_on_switch(previous, &self.model));
        if let Some(previous) = switched {
            let why = compact::Compaction::ModelChanged;
            self.compact_within_turn(&mut ids, control, started, Some(previous), why).await?;
        } else if previous_model.is_some() && self.needs_compaction() {
            let why = compact::Compaction::ContextLimit { mid_turn: false };
            self.compact_within_turn(&mut ids, control, started, None, why).await?;
        } else {
            for item in updates {
                self.record(item);
            }
        }
        // What `notify` tells of the user's messages: the turn's text input.
        let input_messages: Vec<String> = input
            .iter()
            .filter_map(|i| match i {
                UserInput::Text { text } => Some(text.clone()),
                _ => None,
            })
            .collect();
        self.record_user_input(&turn_id, input);

        // Upstream's title requests name no workspace.
        let workspaces = if self.surface == Surface::TuiTitle { None } else { git_workspaces(&self.config.cwd) };
        let mut last_message = None;
        let mut first = true;
        loop {
            // Steers wait for the boundary between two requests; the turn's own input goes first.
            if !first {
                for steer in control.take_pending() {
                    self.record_user_input(&turn_id, steer);
                }
                // What the children told meanwhile follows the tools' outputs.
                for text in self.inbox.take() {
                    self.record(items::canonical(items::message("user", items::new_id("msg"), [text]), self.pack));
                }
            }
            first = false;
            let sampled = self.sample(&ids, &workspaces, &mut last_message, control).await;
            let sampled = match sampled {
                Ok(sampled) => sampled,
                Err(TurnError::Interrupted) => return Err(self.abort(&turn_id, started)),
                Err(TurnError::Api(error)) => return Err(self.fail_turn(&ids, started, error)),
            };
            if let Some(usage) = sampled.usage {
                self.tools.response_received(usage.total_tokens);
            }
            if sampled.interrupted {
                return Err(self.abort(&turn_id, started));
            }
            if !sampled.called_tools && !control.has_pending() {
                break;
            }
            // The tools have answered; the model goes on from a compacted history if the context is full.
            if sampled.called_tools && self.needs_compaction() {
                let why = compact::Compaction::ContextLimit { mid_turn: true };
                self.compact_within_turn(&mut ids, control, started, None, why).await?;
            }
        }
        self.tools.turn_done();
        // Each response's usage is recorded after it (`token_count`); the turn ends with its summary.
        self.save(
            "event_msg",
            json!({"type": "task_complete", "root_turn_id": turn_id, "turn_id": turn_id, "last_agent_message": last_message,
                "started_at": ids.turn_started_at_unix_ms / 1000, "completed_at": unix_now(),
                "duration_ms": started.elapsed().as_millis() as u64}),
        );
        if let Some(argv) = &self.config.notify {
            let client = match &self.client {
                Some(client) => client.originator(),
                None => crate::request::originator(self.surface.originator(self.pack)),
            };
            let turn = crate::notify::TurnComplete {
                thread_id: &self.thread_id,
                turn_id: &turn_id,
                cwd: &self.config.cwd,
                client: Some(client),
                input_messages,
                last_assistant_message: last_message.clone(),
            };
            crate::notify::notify(argv, &turn);
        }
        self.events.emit(Event::TurnCompleted { usage: self.usage.into(), turn_id });
        Ok(TurnSummary { last_message, usage: self.usage })
    }

    /// Takes a turn's settings (see [`TurnOverrides`]), which hold for the turns after it too. Before the thread's
    /// first turn, its context is made anew with them; later, what changed is told to the model as upstream tells it
    /// ([`context::settings_update`]): those items are returned, for the turn to record before its input, and the new
    /// settings are recorded as upstream records them (`thread_settings_applied`). Settings that cannot be taken
    /// (the pack lacks a text they need) are told as an error and the thread keeps its own.
    ///
    /// The first turn of a thread taken up again (`resumed`) tells the model likewise what differs from the settings
    /// of its last turn, as upstream does.
    async fn apply_overrides(&mut self, overrides: &TurnOverrides, resumed: bool) -> Vec<Value> {
        if overrides.is_empty() && !resumed {
            return Vec::new();
        }
        let config = self.config.with_overrides(overrides);
        let (model, model_warning) = if config.model != self.config.model {
            let (model, warning) = context::resolve_model(self.pack, &config.model);
            let model = context::for_surface(self.pack, model, self.surface);
            // A thread that has run keeps the setup it started with; before its first turn it starts anew.
            let model = if self.fresh { model } else { model.in_thread_of(&self.model) };
            let model = if self.spawned.is_some() { model.for_subagent() } else { model };
            (Some(model), warning)
        } else {
            (None, None)
        };
        let profile = model.as_ref().unwrap_or(&self.model).clone();
        let prepared = environment(&config).and_then(|environment| {
            let context = if self.fresh {
                Some(context::initial_context(self.pack, &profile, &environment, &self.thread_id)?)
            } else {
                None
            };
            let updates = match &context {
                Some(_) => Vec::new(),
                None => context::settings_update(self.pack, &self.environment, &environment)?,
            };
            Ok((environment, context, updates))
        });
        let (environment, context, updates) = match prepared {
            Ok(prepared) => prepared,
            Err(e) => {
                self.events.emit(Event::Error {
                    message: format!("the turn's settings were not applied: {e}"),
                    ends_turn: false,
                    reconnect: None,
                });
                return Vec::new();
            }
        };
        if let Some(context) = context {
            let (prefix, context) = split_prefix(&profile, context);
            let history: Vec<Value> = self.before_context.iter().cloned().chain(context).collect();
            if let Some(first_turn) = &mut self.first_turn {
                first_turn.context = history.clone();
            }
            self.prefix = prefix;
            self.history = history;
        }
        self.warnings.extend(model_warning);
        if let Some(model) = model {
            self.model = model;
        }
        self.environment = environment;
        // The tools are the session's alone between turns (a call holds them only while it runs).
        let image_input = self.model.info.is_none_or(|info| info.input_modalities.iter().any(|m| m == "image"));
        for _ in 0..1000 {
            if let Some(tools) = Arc::get_mut(&mut self.tools) {
                tools.reconfigure(&config, self.model.family_slug.clone(), image_input, &self.thread_id);
                break;
            }
            tokio::task::yield_now().await;
        }
        self.config = config;
        let changed = !overrides.is_empty() || !updates.is_empty();
        if changed && !self.fresh {
            let settings = crate::records::thread_settings_applied(&self.thread_id, &self.config, &self.model.slug);
            self.save("event_msg", settings);
        }
        updates
    }

    /// Ends a turn that failed: the error told, and recorded as upstream 0.169.0 records it: the turn's
    /// `task_complete`, with the error and its kind (`codex_error_info`) where upstream's carries its last message.
    fn fail_turn(&mut self, ids: &crate::request::TurnIds, started: std::time::Instant, error: ApiError) -> TurnError {
        let turn_id = ids.turn_id.as_str();
        let message = match &error {
            ApiError::Refused { code, message } => {
                self.pack.text(&rcodex_prompt_pack::keys::failure(code)).unwrap_or(message).to_string()
            }
            _ => error.to_string(),
        };
        let error_info = crate::events::codex_error_info(&message);
        self.events.emit(Event::Error { message: message.clone(), ends_turn: true, reconnect: None });
        self.events.emit(Event::TurnFailed {
            error: ErrorMessage { message: message.clone() },
            turn_id: turn_id.into(),
            error_info: error_info.clone(),
        });
        self.save(
            "event_msg",
            json!({"type": "task_complete", "root_turn_id": turn_id, "turn_id": turn_id, "last_agent_message": null,
                "error": {"message": message, "codex_error_info": error_info},
                "started_at": ids.turn_started_at_unix_ms / 1000, "completed_at": unix_now(),
                "duration_ms": started.elapsed().as_millis() as u64}),
        );
        TurnError::Api(error)
    }

    /// Ends an interrupted turn as upstream does: the marker telling the model so is recorded for the next turn.
    fn abort(&mut self, turn_id: &str, started: std::time::Instant) -> TurnError {
        let marker = self.pack.texts.get(rcodex_prompt_pack::keys::TURN_ABORTED).cloned().unwrap_or_default();
        self.record(items::user_message(&marker));
        self.save(
            "event_msg",
            json!({"type": "turn_aborted", "root_turn_id": turn_id, "turn_id": turn_id, "reason": "interrupted",
                "completed_at": unix_now(), "duration_ms": started.elapsed().as_millis() as u64}),
        );
        self.events.emit(Event::TurnAborted { turn_id: turn_id.to_string() });
        TurnError::Interrupted
    }

    /// Records the user's input as a message of the conversation, and tells the frontend.
    fn record_user_input(&mut self, turn_id: &str, input: Vec<UserInput>) {
        let original = self.model.info.is_some_and(|i| i.supports_image_detail_original);
        let detail = if original { ImageDetail::Original } else { ImageDetail::High };
        let message = items::user_input_message(&input, detail);
        let id = uuid::Uuid::now_v7().to_string();
        self.record(message);
        self.record_selected_skills(&input);
        // As upstream: what a UserPromptSubmit hook adds follows the prompt, as a developer message.
        if self.config.bypass_hook_trust {
            let prompt: String = input
                .iter()
                .filter_map(|part| if let UserInput::Text { text, .. } = part { Some(text.as_str()) } else { None })
                .collect();
            let hook_input = json!({"session_id": self.thread_id, "turn_id": turn_id, "prompt": prompt});
            for text in crate::hooks::additional_context(
                &self.config.codex_home,
                "UserPromptSubmit",
                hook_input,
                &self.config.cwd,
            ) {
                self.record(items::canonical(items::message("developer", items::new_id("msg"), [text]), self.pack));
            }
        }
        // Then the item a frontend shows, with its id, so that reading the thread back names it as it did.
        let now = crate::records::now_ms();
        let item = crate::records::user_message(&id, &input);
        self.save("event_msg", crate::records::item_completed(&self.thread_id, turn_id, item, now, now));
        self.events.emit(Event::UserMessage { turn_id: turn_id.to_string(), id, input });
    }

    /// Each skill the input selects, found among the session's skills by its file, goes to the model as upstream
    /// sends it: a user message of its own after the input's, holding the file as it is now. A path that is no
    /// skill's is passed over, as upstream passes over it; a file that cannot be read is told, in rcodex's words (no
    /// recording shows upstream's).
    fn record_selected_skills(&mut self, input: &[UserInput]) {
        for part in input {
            let UserInput::Skill { path, .. } = part else { continue };
            let Some(skill) = self.environment.skills.selected(path, &self.environment.cwd).cloned() else { continue };
            match std::fs::read_to_string(&skill.path) {
                Ok(contents) => {
                    if let Some(text) = context::skill_message(self.pack, &skill, &contents) {
                        self.record(items::message("user", items::new_id("msg"), [text]));
                    }
                }
                Err(e) => {
                    let message = format!("could not read skill {} ({}): {e}", skill.name, skill.path.display());
                    self.events.completed(ItemDetails::Error { message });
                }
            }
        }
    }

    /// The model's usable context window, as upstream reports it (95% of the catalog's).
    fn context_window(&self) -> Option<u64> {
        self.model.info.and_then(|info| info.context_window).map(|w| w * 95 / 100)
    }

    /// Ends every command still running (at exit, or when the turn was interrupted).
    pub async fn shutdown(&self) {
        self.tools.shutdown().await;
    }

    /// The tools offered in this session's requests.
    fn offered_tools(&self) -> Tools {
        let network = if self.config.network_access() { "enabled" } else { "restricted" };
        Tools::offered_in(self.model.family.tools.get(network), &self.history)
    }

    /// One model response, resent on retryable failures. Its tool calls start as their items arrive; a steer ends
    /// the stream early (what arrived whole is kept), an interrupt ends it and the running calls.
    async fn sample(
        &mut self,
        ids: &TurnIds,
        workspaces: &Option<Value>,
        last_message: &mut Option<String>,
        control: &TurnControl,
    ) -> Result<Sampled, TurnError> {
        let provider = &self.config.model_provider;
        if let Some(error) = missing_key(provider) {
            return Err(TurnError::Api(error));
        }
        let max_retries = provider.stream_max_retries();
        let offered = Arc::new(self.offered_tools());
        let mut attempt = 0;
        loop {
            let input = items::with_missing_outputs(self.prefix.iter().chain(self.history.iter()).cloned().collect());
            let cx = RequestContext {
                pack: self.pack,
                model: &self.model,
                config: &self.config,
                ids,
                workspaces: workspaces.clone(),
                output_schema: control.output_schema.as_ref().or(self.output_schema.as_ref()),
                client: self.client.as_ref(),
                surface: self.surface,
            };
            let metadata = cx.turn_metadata();
            let mut body = cx.body(&input, &metadata);
            if self.tools.asker().interaction().default_mode_request_user_input {
                crate::interaction::offer_request_user_input_in_default_mode(&mut body, self.pack);
            }
            let headers = cx.headers(&metadata);

            let mut received = Vec::new();
            let mut calls = Vec::new();
            let mut completed_usage = None;
            let mut response_id = None;
            // When each item began, for the session file.
            let mut started_ms = std::collections::HashMap::new();
            let outcome = {
                let stream = self.model_client.stream(&headers, &body, |event| match event {
                    ResponseEvent::OutputItemAdded(item) => {
                        if let Some(id) = item.get("id").and_then(Value::as_str) {
                            started_ms.insert(id.to_string(), crate::records::now_ms());
                        }
                        self.announce_start(&ids.turn_id, &item)
                    }
                    ResponseEvent::OutputTextDelta { item_id, delta } => {
                        self.events.emit(Event::AgentMessageDelta { turn_id: ids.turn_id.clone(), id: item_id, delta })
                    }
                    ResponseEvent::ReasoningSummaryPartAdded { item_id, summary_index } => self
                        .events
                        .emit(Event::ReasoningSummaryPart { turn_id: ids.turn_id.clone(), id: item_id, summary_index }),
                    ResponseEvent::ReasoningSummaryDelta { item_id, summary_index, delta } => {
                        self.events.emit(Event::ReasoningSummaryDelta {
                            turn_id: ids.turn_id.clone(),
                            id: item_id,
                            summary_index,
                            delta,
                        })
                    }
                    ResponseEvent::ReasoningTextDelta { item_id, content_index, delta } => {
                        self.events.emit(Event::ReasoningTextDelta {
                            turn_id: ids.turn_id.clone(),
                            id: item_id,
                            content_index,
                            delta,
                        })
                    }
                    // An item upstream cannot read (a call without its id) is dropped unseen, as upstream does.
                    ResponseEvent::OutputItemDone(item) if items::readable(&item) => {
                        let item = items::from_model(item, self.pack);
                        self.announce(&ids.turn_id, &item, last_message);
                        if let Some(call) = ToolCall::from_item(&item) {
                            self.tools.before_call(&call, &self.history, &self.context_window_id, self.window_number);
                            calls.push(RunningCall::start(&self.tools, call, &offered));
                        }
                        received.push(item);
                    }
                    ResponseEvent::Completed { usage, response_id: id } => {
                        completed_usage = Some(usage.unwrap_or_default());
                        response_id = Some(id);
                    }
                    _ => {}
                });
                tokio::select! {
                    outcome = stream => Some(outcome),
                    () = control.steered() => None,
                    () = control.cancel.cancelled() => None,
                }
            };
            // Items that arrived whole are kept even when the stream then failed or was cut: the next request sends
            // them back. The item a frontend shows of one is recorded before it, as upstream records them.
            let now = crate::records::now_ms();
            for item in received {
                if let Some(shown) = crate::records::model_item(&item) {
                    let id = item.get("id").and_then(Value::as_str).unwrap_or_default();
                    let started = started_ms.get(id).copied().unwrap_or(now);
                    let completed = crate::records::item_completed(&self.thread_id, &ids.turn_id, shown, started, now);
                    self.save("event_msg", completed);
                }
                self.record(item);
            }
            let called_tools = !calls.is_empty();
            let (outputs, calls_interrupted) = finish_calls(calls, control).await;
            let interrupted = calls_interrupted || control.cancel.is_cancelled();
            let retry =
                !interrupted && attempt < max_retries && matches!(outcome, Some(Err(ApiError::Retryable { .. })));
            let usage = match outcome {
                _ if interrupted => None,
                // Cut short by a steer: the steer goes in with the next request.
                None => None,
                Some(Ok(())) => Some(completed_usage.unwrap_or_default()),
                Some(Err(_)) => None,
            };
            if let Some(usage) = usage {
                self.usage.add(&usage);
                self.last_usage = usage;
                self.turn_usage.add(&usage);
                let record = self.usage_record(&ids.turn_id, response_id, &usage);
                self.save("token_usage_record", record);
            }
            // Calls that ran are answered whatever became of the stream: they may have changed things.
            let extras = self.record_outputs(&ids.turn_id, outputs);
            let failed = matches!(outcome, Some(Err(_))) && !retry && !interrupted;
            // Upstream counts tokens after an attempt whose response began (its headers, or the stream): an HTTP
            // error answer it tries again (a 429 with Retry-After, found by the soak) is followed by none.
            let no_response = matches!(outcome, Some(Err(ApiError::Retryable { status: Some(_), .. })));
            let uncounted = failed || (retry && no_response);
            if !uncounted {
                let count = crate::records::token_count(&self.usage, &self.last_usage, self.context_window());
                self.save("event_msg", count);
            }
            for extra in extras {
                let extra = items::canonical(extra, self.pack);
                self.record(extra);
            }
            if let Some(usage) = usage {
                self.events.emit(Event::TokenUsage {
                    turn_id: ids.turn_id.clone(),
                    total: self.usage.into(),
                    last: usage.into(),
                    total_tokens: self.usage.total_tokens,
                    last_tokens: usage.total_tokens,
                });
            }
            match outcome {
                Some(Err(ApiError::Retryable { message, delay, status })) if retry => {
                    attempt += 1;
                    let reconnect =
                        crate::events::Reconnect { attempt, max: max_retries, details: message, http_status: status };
                    // Upstream's release builds keep a first retry over the WebSocket to themselves.
                    if !(attempt == 1 && self.model_client.failed_over_websocket()) {
                        self.events.emit(reconnect.event());
                    }
                    tokio::select! {
                        () = tokio::time::sleep(delay.unwrap_or_else(|| backoff(attempt))) => continue,
                        () = control.cancel.cancelled() => {
                            return Ok(Sampled { called_tools, usage: None, interrupted: true });
                        }
                    }
                }
                Some(Err(error)) if failed => return Err(TurnError::Api(error)),
                _ => {}
            }
            self.events.emit(Event::ResponseEnded { turn_id: ids.turn_id.clone(), completed: usage.is_some() });
            return Ok(Sampled { called_tools, usage, interrupted });
        }
    }

    /// Tells the frontend an item has begun (an assistant message, whose text streams; reasoning).
    fn announce_start(&self, turn_id: &str, item: &Value) {
        let id = item.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
        match item.get("type").and_then(Value::as_str) {
            Some("message") if item.get("role").and_then(Value::as_str) == Some("assistant") => {
                let phase = item.get("phase").and_then(Value::as_str).map(str::to_string);
                self.events.emit(Event::AgentMessageStarted { turn_id: turn_id.to_string(), id, phase });
            }
            Some("reasoning") => self.events.emit(Event::ReasoningStarted { turn_id: turn_id.to_string(), id }),
            _ => {}
        }
    }

    /// Tells the frontend about an item the model produced.
    fn announce(&self, turn_id: &str, item: &Value, last_message: &mut Option<String>) {
        let source_id = item.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
        match item.get("type").and_then(Value::as_str) {
            Some("message") if item.get("role").and_then(Value::as_str) == Some("assistant") => {
                let text = items::text_of(item);
                *last_message = Some(text.clone());
                let id = self.events.item_id();
                let phase = item.get("phase").and_then(Value::as_str).map(str::to_string);
                let details = ItemDetails::AgentMessage { text, phase };
                self.events.emit(Event::ItemCompleted { item: Item::new(id, details).with_source(source_id) });
            }
            Some("web_search_call") => {
                let id = self.events.item_id();
                let details = crate::events::web_search(item);
                let item = Item::new(id, details).with_source(source_id);
                self.events.emit(Event::ItemStarted { item: item.clone() });
                self.events.emit(Event::ItemCompleted { item });
            }
            Some("reasoning") => {
                let texts = |key: &str| -> Vec<String> {
                    item.get(key)
                        .and_then(Value::as_array)
                        .map(|parts| parts.iter().filter_map(|p| p.get("text")?.as_str().map(str::to_string)).collect())
                        .unwrap_or_default()
                };
                self.events.emit(Event::ReasoningCompleted {
                    turn_id: turn_id.to_string(),
                    id: source_id.clone(),
                    summary: texts("summary"),
                    content: texts("content"),
                });
                let text = items::text_of(item);
                if !text.is_empty() {
                    let id = self.events.item_id();
                    let details = ItemDetails::Reasoning { text };
                    self.events.emit(Event::ItemCompleted { item: Item::new(id, details).with_source(source_id) });
                }
            }
            _ => {}
        }
    }
}

/// What one sampling gave: whether the model called tools (their outputs are recorded), its usage when the response
/// completed, and whether the turn was interrupted meanwhile.
struct Sampled {
    called_tools: bool,
    usage: Option<Usage>,
    interrupted: bool,
}

/// A tool call started as its item arrived.
struct RunningCall {
    call: ToolCall,
    started: std::time::Instant,
    task: tokio::task::JoinHandle<Vec<Value>>,
}

impl RunningCall {
    fn start(tools: &Arc<ToolRuntime>, call: ToolCall, offered: &Arc<Tools>) -> RunningCall {
        let (tools, offered, task_call) = (tools.clone(), offered.clone(), call.clone());
        let task = tokio::spawn(async move { tools.call(&task_call, &offered).await });
        RunningCall { call, started: std::time::Instant::now(), task }
    }
}

/// Waits for the calls, in order; on an interrupt, those still running are ended and answered as upstream answers
/// them. Returns their outputs and whether the turn was interrupted.
async fn finish_calls(calls: Vec<RunningCall>, control: &TurnControl) -> (Vec<Value>, bool) {
    let mut outputs = Vec::new();
    let mut interrupted = false;
    for mut running in calls {
        if !interrupted {
            tokio::select! {
                joined = &mut running.task => {
                    outputs.extend(joined.unwrap_or_default());
                    continue;
                }
                () = control.cancel.cancelled() => interrupted = true,
            }
        }
        if running.task.is_finished() {
            outputs.extend(running.task.await.unwrap_or_default());
            continue;
        }
        running.task.abort();
        let seconds = running.started.elapsed().as_secs_f32();
        // Its end is waited for: what it was waiting on (an approval request) is withdrawn before the turn ends.
        let _ = (&mut running.task).await;
        // Upstream's words for a call it ended: a command's frame, or the time alone (seen for apply_patch).
        let text = match running.call.name.as_str() {
            "exec_command" | "write_stdin" => format!("Wall time: {seconds:.1} seconds\naborted by user"),
            _ => format!("aborted by user after {seconds:.1}s"),
        };
        outputs.push(running.call.output(ToolOutput::Text(text)));
    }
    (outputs, interrupted)
}

/// What a running turn takes from outside: steers, queued for the next request, and an interrupt.
pub struct TurnControl {
    pub turn_id: String,
    /// The turn's own output schema (the app server's `outputSchema`), over the session's.
    pub output_schema: Option<Value>,
    /// Settings the turn changes, for itself and the turns after it (the app server's `turn/start`).
    pub overrides: TurnOverrides,
    pending: std::sync::Mutex<Vec<Vec<UserInput>>>,
    steer_arrived: tokio::sync::Notify,
    pub cancel: tokio_util::sync::CancellationToken,
}

impl TurnControl {
    pub fn new(turn_id: String) -> TurnControl {
        TurnControl {
            turn_id,
            output_schema: None,
            overrides: TurnOverrides::default(),
            pending: Default::default(),
            steer_arrived: Default::default(),
            cancel: Default::default(),
        }
    }

    /// Adds input to the running turn: it goes in with the turn's next request, which a stream in progress is cut
    /// short for.
    pub fn steer(&self, input: Vec<UserInput>) {
        self.pending.lock().expect("steer queue").push(input);
        self.steer_arrived.notify_one();
    }

    pub fn interrupt(&self) {
        self.cancel.cancel();
    }

    fn has_pending(&self) -> bool {
        !self.pending.lock().expect("steer queue").is_empty()
    }

    fn take_pending(&self) -> Vec<Vec<UserInput>> {
        std::mem::take(&mut *self.pending.lock().expect("steer queue"))
    }

    /// Resolves when a steer is waiting.
    async fn steered(&self) {
        loop {
            let notified = self.steer_arrived.notified();
            if self.has_pending() {
                return;
            }
            notified.await;
        }
    }
}

/// Why a turn did not complete.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TurnError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("the turn was interrupted")]
    Interrupted,
}

/// A forked child's history: its parent's messages, then (when they list deferred tool namespaces, which a child
/// has none of) upstream's developer message naming those namespaces as removed, from the pack's template.
fn forked_history(pack: &Pack, parent: &[Value]) -> Vec<Value> {
    let mut history = parent.to_vec();
    let Some(template) = pack.text(rcodex_prompt_pack::keys::FORK_REMOVED_NAMESPACES) else { return history };
    // The parent's listing is the developer text that opens as the template does.
    let opening = template.split_inclusive('\n').next().unwrap_or_default();
    let texts = parent.iter().filter(|item| item["role"] == "developer").flat_map(|item| {
        item.get("content").and_then(Value::as_array).into_iter().flatten().filter_map(|p| p["text"].as_str())
    });
    let listed: String = texts
        .filter(|text| text.starts_with(opening))
        .flat_map(|text| text.split_inclusive('\n').filter(|line| line.starts_with("- ")))
        .collect();
    if listed.is_empty() {
        return history;
    }
    if let Ok(text) = rcodex_prompt_pack::render(template, &[("namespaces", listed.as_str())]) {
        history.push(items::canonical(items::message("developer", items::new_id("msg"), [text]), pack));
    }
    history
}

/// Upstream sends nothing without the provider's key, and says which variable is missing.
fn missing_key(provider: &crate::config::ModelProvider) -> Option<ApiError> {
    let var = provider.env_key.as_ref()?;
    if !std::env::var(var).map(|v| v.trim().is_empty()).unwrap_or(true) {
        return None;
    }
    let mut message = format!("Missing environment variable: `{var}`.");
    if let Some(instructions) = &provider.env_key_instructions {
        message.push(' ');
        message.push_str(instructions);
    }
    Some(ApiError::Fatal(message))
}

/// The environment the last turn of the saved thread at `path` told the model of: the working directory, approval
/// and sandbox policy of its `turn_context`, the rest as `config` says now.
fn told_environment(path: &std::path::Path, config: &Config) -> Option<Environment> {
    let text = std::fs::read_to_string(path).ok()?;
    let record = text
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|record| record.get("type").and_then(Value::as_str) == Some("turn_context"))?;
    let told = &record["payload"];
    let overrides = TurnOverrides {
        cwd: told["cwd"].as_str().map(PathBuf::from),
        approval_policy: serde_json::from_value(told["approval_policy"].clone()).ok(),
        sandbox: told["sandbox_policy"]["type"].as_str().and_then(|mode| mode.parse().ok()).map(|mode| (mode, None)),
        ..TurnOverrides::default()
    };
    environment(&config.with_overrides(&overrides)).ok()
}

/// Seconds since the epoch.
fn unix_now() -> u64 {
    jiff::Timestamp::now().as_second().max(0) as u64
}

/// Splits a new session's context: name-based items are rebuilt for each request, the rest is history.
fn split_prefix(model: &ModelProfile, context: Vec<Value>) -> (Vec<Value>, Vec<Value>) {
    let mut prefix = Vec::new();
    let mut history = Vec::new();
    for (recipe, item) in model.recipe().iter().zip(context) {
        if recipe.id.version == 5 { prefix.push(item) } else { history.push(item) }
    }
    (prefix, history)
}

/// The name-based items of a context (for a resumed session, whose other items come from its file).
fn name_based(model: &ModelProfile, context: Vec<Value>) -> Vec<Value> {
    split_prefix(model, context).0
}

/// `CODEX_HOME/installation_id`: made once, then the same for every session of this home.
fn installation_id(codex_home: &std::path::Path) -> Result<String, SessionError> {
    let path = codex_home.join("installation_id");
    if let Ok(id) = std::fs::read_to_string(&path)
        && !id.trim().is_empty()
    {
        return Ok(id.trim().to_string());
    }
    let id = uuid::Uuid::new_v4().to_string();
    std::fs::create_dir_all(codex_home).map_err(|source| SessionError::Io { path: codex_home.into(), source })?;
    std::fs::write(&path, &id).map_err(|source| SessionError::Io { path, source })?;
    Ok(id)
}

/// The environment the context describes, from the configuration and the machine.
pub fn environment(config: &Config) -> Result<Environment, SessionError> {
    let writable_roots = config.sandbox_policy().writable_roots(&config.cwd).into_iter().map(|w| w.root).collect();
    let agents_md = context::discover_project_docs(
        &config.cwd,
        config.project_doc_max_bytes,
        &config.project_doc_fallback_filenames,
    )
    .map_err(|source| SessionError::Io { path: config.cwd.clone(), source })?;
    let user_instructions = std::fs::read_to_string(config.codex_home.join("AGENTS.md"))
        .ok()
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty());
    Ok(Environment {
        cwd: config.cwd.clone(),
        codex_home: config.codex_home.clone(),
        shell: context::shell_name(),
        current_date: context::local_date(),
        timezone: context::local_timezone(),
        sandbox_mode: config.sandbox_mode,
        approval: config.approval_policy,
        network: config.network_access(),
        writable_roots,
        workspace_roots: config.workspace_roots(),
        agents_md,
        user_instructions,
        developer_instructions: config.developer_instructions.clone(),
        model_instructions: config.model_instructions.clone(),
        no_personality: config.personality == Some(crate::config::Personality::None),
        skills: crate::skills::discover(
            &config.cwd,
            &config.codex_home,
            std::env::var_os("HOME").map(PathBuf::from).as_deref(),
        ),
        approved_prefixes: config.exec_policy.approved_prefixes(),
        mcp_namespaces: config.mcp_namespaces(),
    })
}
