//! Sub-agents: the threads a thread starts with upstream's multi-agent tools (`spawn_agent`, `send_input`,
//! `wait_agent`, `close_agent`, `resume_agent`), each a [`ThreadHandle`] of its own running beside its parent.
//!
//! A child shares its parent's session id (and so the prompt cache key) under a thread id of its own, names its
//! parent in its requests ([`SpawnedBy`]), and is offered no multi-agent tools (upstream's depth limit of one).
//! When a child's first turn after its spawn (or resume) ends, its parent hears of it in a `<subagent_notification>`
//! message at its next request, before any `wait_agent` sees the child's final status.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::config::Config;
use crate::events::{EventSink, UserInput};
use crate::interaction::Interaction;
use crate::request::{AppClient, Surface};
use crate::session::SessionOptions;
use crate::thread::ThreadHandle;

/// What a child's requests say of the thread that spawned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnedBy {
    /// The root thread's session id, which the child's requests carry (and use as their prompt cache key).
    pub session_id: String,
    pub parent_thread_id: String,
    /// The parent's turn that spawned the child.
    pub parent_turn_id: String,
    pub root_turn_id: String,
    /// What the child starts from with `spawn_agent`'s `fork_context`, in place of a context of its own.
    pub forked: Option<Forked>,
}

/// A parent's history as a child spawned with `fork_context` takes it: the parent's user and developer messages
/// (upstream forks neither the model's answers nor tool calls and outputs), in the parent's context window
/// (`history_initialization: warm_fork`, `subagent-fork-context`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forked {
    pub messages: Arc<Vec<Value>>,
    pub context_window_id: String,
    pub window_number: u32,
}

/// What `spawn_agent` may change of the parent's settings for the child.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub model: Option<String>,
    pub reasoning_effort: Option<String>,
}

/// Where a child is, as upstream's `AgentStatus` serializes it (`"pending_init"`, `{"completed": "..."}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    PendingInit,
    Running,
    /// Its turn was interrupted (by `send_input` with `interrupt`), before the next one began.
    Interrupted,
    Completed(Option<String>),
    Errored(String),
    Shutdown,
    NotFound,
}

impl AgentStatus {
    /// Whether the child is done with its work for now (what `wait_agent` waits for).
    pub fn is_final(&self) -> bool {
        !matches!(self, AgentStatus::PendingInit | AgentStatus::Running)
    }

    /// The status as `exec --json` shows it in a collab item's `agents_states`: `{"status", "message"}`.
    pub fn exec_state(&self) -> Value {
        let (status, message) = match self {
            AgentStatus::PendingInit => ("pending_init", None),
            AgentStatus::Running => ("running", None),
            AgentStatus::Interrupted => ("interrupted", None),
            AgentStatus::Completed(message) => ("completed", message.clone()),
            AgentStatus::Errored(message) => ("errored", Some(message.clone())),
            AgentStatus::Shutdown => ("shutdown", None),
            AgentStatus::NotFound => ("not_found", None),
        };
        json!({"status": status, "message": message})
    }
}

/// Messages for a thread from its children, taken into its history at its next request.
#[derive(Clone, Default)]
pub struct Inbox(Arc<Mutex<Vec<String>>>);

impl Inbox {
    pub fn push(&self, text: String) {
        self.0.lock().expect("inbox").push(text);
    }

    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().expect("inbox"))
    }
}

/// The message a parent gets when a child's turn has ended.
fn notification(agent_id: &str, status: &AgentStatus) -> String {
    let body = json!({"agent_path": agent_id, "status": status});
    format!("<subagent_notification>\n{body}\n</subagent_notification>")
}

/// How a parent's children are started: everything of the parent's session a child takes over.
pub struct SpawnBase {
    pub config: Config,
    pub sandbox_launcher: PathBuf,
    pub client: Option<AppClient>,
    pub surface: Surface,
    pub interaction: Interaction,
    /// Where a child's events go: the app server shows a child's thread; exec shows none.
    pub child_events: ChildEvents,
}

/// Makes the event sink of a child thread, given its thread id and the root turn it was spawned in.
pub type ChildEvents = Arc<dyn Fn(&str, &str) -> EventSink + Send + Sync>;

/// One child.
struct Agent {
    nickname: String,
    handle: Mutex<Option<ThreadHandle>>,
    status: watch::Sender<AgentStatus>,
    rollout: Option<PathBuf>,
    /// The parent is told of the child's next final status: upstream watches a child from its spawn (or resume) to
    /// its first final status only, so the end of a turn that `send_input` gave it goes untold.
    notify: std::sync::atomic::AtomicBool,
}

/// A thread's children and how to start more: owned by the parent's tool runtime.
pub struct Agents {
    base: Mutex<SpawnBase>,
    parent_thread_id: String,
    session_id: String,
    inbox: Inbox,
    /// The parent's running turn (its id, and the root turn's id), which a child spawned now names.
    turn: Mutex<(String, String)>,
    children: Mutex<HashMap<String, Arc<Agent>>>,
    /// The parent's history so far, as a child spawned with `fork_context` gets it (see [`Agents::note_history`]).
    forkable: Mutex<Forked>,
}

/// The reasoning effort a spawn is shown with when neither the call nor the configuration names one (upstream's
/// default effort).
pub const DEFAULT_EFFORT: &str = "medium";

/// Why a multi-agent call could not be done: its text goes to the model.
pub type CallError = String;

impl Agents {
    pub fn new(base: SpawnBase, parent_thread_id: String, session_id: String, inbox: Inbox) -> Agents {
        Agents {
            base: Mutex::new(base),
            parent_thread_id,
            session_id,
            inbox,
            turn: Mutex::default(),
            children: Mutex::default(),
            forkable: Mutex::default(),
        }
    }

    pub fn parent_thread_id(&self) -> &str {
        &self.parent_thread_id
    }

    /// The parent's settings changed (a turn changed them): later children take the new ones.
    pub fn reconfigure(&self, config: &Config) {
        self.base.lock().expect("base").config = config.clone();
    }

    /// The model a child runs and its reasoning effort (the configured one, else the default).
    pub fn child_model(&self) -> (String, String) {
        let base = self.base.lock().expect("base");
        let effort = base.config.model_reasoning_effort.clone().unwrap_or_else(|| DEFAULT_EFFORT.to_string());
        (base.config.model.clone(), effort)
    }

    /// The parent's history, in its context window, as a call about to run finds it: a child the call spawns with
    /// `fork_context` starts from it ([`Forked`]).
    pub fn note_history(&self, history: &[Value], context_window_id: &str, window_number: u32) {
        let messages = history.iter().filter(|item| {
            item.get("type").and_then(Value::as_str) == Some("message")
                && matches!(item.get("role").and_then(Value::as_str), Some("user" | "developer"))
        });
        *self.forkable.lock().expect("forkable") = Forked {
            messages: Arc::new(messages.cloned().collect()),
            context_window_id: context_window_id.to_string(),
            window_number,
        };
    }

    /// The parent's turn now running.
    pub fn begin_turn(&self, turn_id: &str, root_turn_id: &str) {
        *self.turn.lock().expect("turn") = (turn_id.to_string(), root_turn_id.to_string());
    }

    fn child(&self, id: &str) -> Option<Arc<Agent>> {
        self.children.lock().expect("children").get(id).cloned()
    }

    pub fn status(&self, id: &str) -> AgentStatus {
        self.child(id).map_or(AgentStatus::NotFound, |agent| agent.status.borrow().clone())
    }

    fn options(&self, resume: Option<PathBuf>) -> SessionOptions {
        let base = self.base.lock().expect("base");
        let (parent_turn_id, root_turn_id) = self.turn.lock().expect("turn").clone();
        SessionOptions {
            config: base.config.clone(),
            resume,
            ephemeral: false,
            output_schema: None,
            sandbox_launcher: base.sandbox_launcher.clone(),
            fork: None,
            client: base.client.clone(),
            surface: base.surface,
            interaction: base.interaction,
            spawned: Some(SpawnedBy {
                session_id: self.session_id.clone(),
                parent_thread_id: self.parent_thread_id.clone(),
                parent_turn_id,
                root_turn_id,
                forked: None,
            }),
            child_events: None,
        }
    }

    fn start_thread(
        &self,
        resume: Option<PathBuf>,
        overrides: &Overrides,
        fork_context: bool,
    ) -> Result<ThreadHandle, CallError> {
        let mut options = self.options(resume);
        if fork_context && let Some(spawned) = &mut options.spawned {
            spawned.forked = Some(self.forkable.lock().expect("forkable").clone());
        }
        if let Some(model) = &overrides.model {
            options.config.model = model.clone();
        }
        if let Some(effort) = &overrides.reasoning_effort {
            options.config.model_reasoning_effort = Some(effort.clone());
        }
        let child_events = self.base.lock().expect("base").child_events.clone();
        // The sink needs the thread's id, which the session draws as it starts: events go through a slot filled
        // once it is known (a thread tells nothing before its first turn).
        let slot: Arc<Mutex<Option<EventSink>>> = Arc::default();
        let sink = {
            let slot = slot.clone();
            EventSink::new(move |event| {
                if let Some(sink) = slot.lock().expect("slot").as_ref() {
                    sink.emit(event)
                }
            })
        };
        let (handle, _task) = ThreadHandle::spawn(options, sink).map_err(|e| e.to_string())?;
        let root_turn_id = self.turn.lock().expect("turn").1.clone();
        *slot.lock().expect("slot") = Some(child_events(handle.thread_id(), &root_turn_id));
        Ok(handle)
    }

    /// `spawn_agent`: a new child thread whose first turn takes `input`, on the parent's model and reasoning effort
    /// unless `overrides` says otherwise (subagent-overrides), from the parent's messages with `fork_context`.
    /// Returns its id and nickname.
    pub fn spawn(
        &self,
        input: Vec<UserInput>,
        overrides: &Overrides,
        fork_context: bool,
    ) -> Result<(String, String), CallError> {
        let handle = self.start_thread(None, overrides, fork_context)?;
        let id = handle.thread_id().to_string();
        let nickname = nickname_for(&id, &self.children.lock().expect("children"));
        let agent = Arc::new(Agent {
            nickname: nickname.clone(),
            rollout: handle.rollout_path().map(PathBuf::from),
            handle: Mutex::new(Some(handle)),
            status: watch::channel(AgentStatus::PendingInit).0,
            notify: true.into(),
        });
        self.children.lock().expect("children").insert(id.clone(), agent.clone());
        // The child's first turn starts on its own: the parent does not wait for it.
        let (inbox, child_id) = (self.inbox.clone(), id.clone());
        tokio::spawn(async move { run_turn(inbox, &child_id, &agent, input).await });
        Ok((id, nickname))
    }

    /// `send_input`: another turn for a child (or, with `interrupt`, one that replaces the turn it is running).
    /// Returns the new turn's id and the child's status as the input reached it: `interrupted` when it ended the
    /// running turn (as upstream shows it, subagent-send-input-interrupt).
    pub async fn send_input(
        &self,
        id: &str,
        input: Vec<UserInput>,
        interrupt: bool,
    ) -> Result<(String, AgentStatus), CallError> {
        let agent = self.child(id).ok_or_else(|| format!("agent with id {id} not found"))?;
        let mut reached = agent.status.borrow().clone();
        if reached == AgentStatus::Shutdown {
            return Err(format!("agent with id {id} is closed"));
        }
        let handle =
            agent.handle.lock().expect("handle").clone().ok_or_else(|| format!("agent with id {id} is closed"))?;
        if interrupt {
            handle.interrupt().await;
            if !reached.is_final() {
                reached = AgentStatus::Interrupted;
            }
        }
        // A wait from now on waits for this turn's end, not the last one's.
        agent.status.send_replace(AgentStatus::Running);
        // Upstream's submission id is the new turn's id.
        let turn_id = run_turn(self.inbox.clone(), id, &agent, input).await;
        Ok((turn_id.ok_or_else(|| format!("agent with id {id} is closed"))?, reached))
    }

    /// `wait_agent`: the statuses of those of `ids` that are final once the first is (or none, past `timeout`).
    pub async fn wait(&self, ids: &[String], timeout: Duration) -> Vec<(String, AgentStatus)> {
        let statuses = |ids: &[String]| -> Vec<(String, AgentStatus)> {
            ids.iter().map(|id| (id.clone(), self.status(id))).filter(|(_, status)| status.is_final()).collect()
        };
        let now = statuses(ids);
        if !now.is_empty() {
            return now;
        }
        let mut receivers: Vec<watch::Receiver<AgentStatus>> =
            ids.iter().filter_map(|id| self.child(id)).map(|agent| agent.status.subscribe()).collect();
        if !receivers.is_empty() {
            let waits = receivers.iter_mut().map(|rx| Box::pin(rx.wait_for(AgentStatus::is_final)));
            let _ = tokio::time::timeout(timeout, futures_util::future::select_all(waits)).await;
        }
        statuses(ids)
    }

    /// `close_agent`: ends the child's thread; returns the status it had.
    pub async fn close(&self, id: &str) -> Result<AgentStatus, CallError> {
        let agent = self.child(id).ok_or_else(|| format!("agent with id {id} not found"))?;
        let previous = agent.status.borrow().clone();
        let handle = agent.handle.lock().expect("handle").take();
        agent.status.send_replace(AgentStatus::Shutdown);
        if let Some(handle) = handle {
            handle.shutdown().await;
        }
        Ok(previous)
    }

    /// `resume_agent`: a closed child's thread taken up again from its session file.
    pub fn resume(&self, id: &str) -> Result<AgentStatus, CallError> {
        let agent = self.child(id).ok_or_else(|| format!("agent with id {id} not found"))?;
        if agent.handle.lock().expect("handle").is_some() {
            return Ok(agent.status.borrow().clone());
        }
        let rollout = agent.rollout.clone().ok_or_else(|| format!("agent with id {id} cannot be resumed"))?;
        let handle = self.start_thread(Some(rollout), &Overrides::default(), false)?;
        *agent.handle.lock().expect("handle") = Some(handle);
        agent.status.send_replace(AgentStatus::PendingInit);
        agent.notify.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(AgentStatus::PendingInit)
    }

    /// Ends every child (the parent is shutting down).
    pub async fn shutdown(&self) {
        let children: Vec<Arc<Agent>> = self.children.lock().expect("children").values().cloned().collect();
        for agent in children {
            let handle = agent.handle.lock().expect("handle").take();
            if let Some(handle) = handle {
                handle.shutdown().await;
            }
        }
    }
}

/// Runs a turn of a child (after the one running, if any); its end is told to the parent, then to waiters.
/// Returns the turn's id once it has started (`None`: the child's thread has stopped).
async fn run_turn(inbox: Inbox, id: &str, agent: &Arc<Agent>, input: Vec<UserInput>) -> Option<String> {
    let handle = agent.handle.lock().expect("handle").clone()?;
    let (agent, id) = (agent.clone(), id.to_string());
    let (done, outcome) = tokio::sync::oneshot::channel();
    let (started_tx, started) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let Ok(turn_id) = handle.start_turn(input, Some(done)).await else { return };
        agent.status.send_replace(AgentStatus::Running);
        let _ = started_tx.send(turn_id);
        let status = match outcome.await {
            Ok(Ok(summary)) => AgentStatus::Completed(summary.last_message),
            Ok(Err(crate::session::TurnError::Interrupted)) | Err(_) => return,
            Ok(Err(error)) => AgentStatus::Errored(error.to_string()),
        };
        // A child closed meanwhile stays closed.
        if *agent.status.borrow() == AgentStatus::Shutdown {
            return;
        }
        if agent.notify.swap(false, std::sync::atomic::Ordering::SeqCst) {
            inbox.push(notification(&id, &status));
        }
        agent.status.send_replace(status);
    });
    started.await.ok()
}

/// Names a child can get (upstream draws one at random from a list of its own; the diff masks it).
const NICKNAMES: &[&str] = &[
    "Noether",
    "Turing",
    "Hopper",
    "Lovelace",
    "Gauss",
    "Euler",
    "Riemann",
    "Hilbert",
    "Ramanujan",
    "Kovalevskaya",
    "Cantor",
    "Galois",
    "Hamilton",
    "Lagrange",
    "Laplace",
    "Poincare",
];

/// A nickname not yet taken among `children`, chosen by the new thread's id (its random bits).
fn nickname_for(id: &str, children: &HashMap<String, Arc<Agent>>) -> String {
    let seed = id.bytes().fold(0usize, |acc, b| acc.wrapping_mul(31).wrapping_add(b as usize));
    let taken = |name: &str| children.values().any(|agent| agent.nickname == name);
    (0..NICKNAMES.len())
        .map(|i| NICKNAMES[(seed + i) % NICKNAMES.len()])
        .find(|name| !taken(name))
        .map_or_else(|| format!("Agent {}", children.len() + 1), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_serialize_as_upstream_s() {
        let completed = AgentStatus::Completed(Some("done".into()));
        assert_eq!(serde_json::to_value(&completed).unwrap(), json!({"completed": "done"}));
        assert_eq!(serde_json::to_value(AgentStatus::PendingInit).unwrap(), json!("pending_init"));
        assert_eq!(completed.exec_state(), json!({"status": "completed", "message": "done"}));
        assert_eq!(AgentStatus::PendingInit.exec_state(), json!({"status": "pending_init", "message": null}));
        assert!(completed.is_final() && !AgentStatus::Running.is_final());
        assert_eq!(
            notification("a1", &completed),
            "<subagent_notification>\n{\"agent_path\":\"a1\",\"status\":{\"completed\":\"done\"}}\n</subagent_notification>"
        );
    }

    #[test]
    fn nicknames_are_not_given_twice() {
        let mut children = HashMap::new();
        for n in 0..NICKNAMES.len() + 2 {
            let name = nickname_for("01a249b6-ef88-7060-bdb3-2b7be310366a", &children);
            assert!(children.values().all(|a: &Arc<Agent>| a.nickname != name), "{name} given twice");
            let agent = Agent {
                nickname: name,
                handle: Mutex::new(None),
                status: watch::channel(AgentStatus::Shutdown).0,
                rollout: None,
                notify: false.into(),
            };
            children.insert(n.to_string(), Arc::new(agent));
        }
    }
}
