//! Asking the frontend. A tool that needs a person's decision (an approval to run a command outside the sandbox,
//! or to apply a patch where the sandbox does not let it write) or answers (`request_user_input`) asks through the
//! session's [`Asker`]: it tells the frontend with an [`Event::ApprovalRequested`] or [`Event::UserInputRequested`]
//! and waits for the answer, which the frontend sends back as [`crate::thread::Op::Resolve`] with the request's id.
//!
//! Frontend-neutral: the request ids are the session's own; an app server maps them to its JSON-RPC requests. A
//! frontend that answers nothing (`rcodex exec`) says so when the session starts ([`Interaction::answered`]): its
//! tools then never ask (the approval policy is `never` there anyway), and `request_user_input`, where it is offered,
//! gets empty answers at once, as upstream's exec gives it.
//!
//! While a tool waits, an interrupt ends the turn as it ends any running tool: the wait is dropped with the tool, and
//! the request is withdrawn (a late answer to it is refused as unknown).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::events::{Event, EventSink, FileChange};

/// How a session's frontend takes part in its tools' requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Interaction {
    /// Someone answers approval and user-input requests (an app server's client). When false (`rcodex exec`),
    /// nothing is asked: tools behave as under `approval_policy = "never"`, and `request_user_input` gets empty
    /// answers.
    pub answered: bool,
    /// `features.default_mode_request_user_input`: `request_user_input` asks in Default mode. Without it, upstream
    /// answers the tool "request_user_input is unavailable in Default mode".
    pub default_mode_request_user_input: bool,
    /// The frontend can ask for an MCP tool's approval ([`ApprovalKind::McpTool`]: the app server, as an MCP
    /// elicitation; the interactive interface, in a dialog). Without it, such a call fails saying rcodex cannot ask.
    pub mcp_approvals: bool,
}

/// Describes the `request_user_input` tool of a request body as upstream describes it when Default mode offers it
/// (`features.default_mode_request_user_input`): the description recorded in the prompt pack.
pub fn offer_request_user_input_in_default_mode(body: &mut serde_json::Value, pack: &rcodex_prompt_pack::Pack) {
    let Some(description) = pack.texts.get(rcodex_prompt_pack::keys::REQUEST_USER_INPUT_DEFAULT_MODE) else { return };
    let tools = body.get_mut("tools").and_then(serde_json::Value::as_array_mut).into_iter().flatten();
    for tool in tools.filter(|tool| tool["name"] == "request_user_input") {
        tool["description"] = serde_json::Value::String(description.clone());
    }
}

/// A decision on an approval request, named as the app-server protocol of Codex 0.169.0 names them
/// (`CommandExecutionApprovalDecision`, `FileChangeApprovalDecision`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ApprovalDecision {
    /// Go ahead, this once.
    Accept,
    /// Go ahead, and do not ask again in this session for the same command (same directory) or the same files.
    AcceptForSession,
    /// Go ahead, and let every command starting with these words run without asking (for this session).
    AcceptWithExecpolicyAmendment { execpolicy_amendment: Vec<String> },
    /// Do not; the turn goes on, the model told so.
    Decline,
    /// Do not, and end the turn (as an interrupt does).
    Cancel,
}

impl ApprovalDecision {
    pub fn approves(&self) -> bool {
        matches!(
            self,
            ApprovalDecision::Accept
                | ApprovalDecision::AcceptForSession
                | ApprovalDecision::AcceptWithExecpolicyAmendment { .. }
        )
    }
}

/// What an approval request is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ApprovalKind {
    /// A command that asked to run outside the sandbox (`sandbox_permissions: "require_escalated"`).
    Command {
        /// As items show it (`/bin/bash -lc 'echo hi'`).
        command: String,
        /// The argv it would run.
        argv: Vec<String>,
        /// Where it would run.
        cwd: PathBuf,
        /// The model's justification.
        reason: Option<String>,
        /// The words a rule letting similar commands run would start with (see
        /// [`ApprovalDecision::AcceptWithExecpolicyAmendment`]).
        proposed_execpolicy_amendment: Option<Vec<String>>,
        /// The decisions to offer, in upstream's order.
        available_decisions: Vec<ApprovalDecision>,
    },
    /// A call of an MCP server's tool that is not read-only (or whose approval mode is `prompt`).
    McpTool {
        server: String,
        tool: String,
        /// The tool's description and annotations (`readOnlyHint`...), as its server lists them.
        description: Option<String>,
        annotations: Option<serde_json::Value>,
        arguments: serde_json::Value,
    },
    /// A patch that writes where the sandbox does not let patches write.
    Patch {
        /// What it would do to each file (absolute paths, with diffs).
        changes: Vec<FileChange>,
        reason: Option<String>,
        /// A directory whose approval would let later writes under it through (upstream never proposes one here).
        grant_root: Option<PathBuf>,
    },
}

/// A question of `request_user_input`, as the model asks it (and as the app server forwards it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInputQuestion {
    pub id: String,
    pub header: String,
    pub question: String,
    /// The frontend offers a free-form answer besides the options (always, in Default mode).
    #[serde(rename = "isOther", default)]
    pub is_other: bool,
    #[serde(rename = "isSecret", default)]
    pub is_secret: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<UserInputOption>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInputOption {
    pub label: String,
    pub description: String,
}

/// The answers to a user-input request: for each question answered, by id, what was chosen or typed. Serializes as
/// the app-server protocol's `ToolRequestUserInputResponse`, which is also the text the model reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInputAnswers {
    pub answers: BTreeMap<String, UserInputAnswer>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInputAnswer {
    pub answers: Vec<String>,
}

impl UserInputAnswers {
    /// Answers from question ids and what was answered to each.
    pub fn new<I, S>(answers: impl IntoIterator<Item = (S, I)>) -> UserInputAnswers
    where
        S: Into<String>,
        I: IntoIterator<Item = S>,
    {
        let answers = answers
            .into_iter()
            .map(|(id, given)| (id.into(), UserInputAnswer { answers: given.into_iter().map(Into::into).collect() }))
            .collect();
        UserInputAnswers { answers }
    }
}

/// The frontend's answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Approval(ApprovalDecision),
    UserInput(UserInputAnswers),
}

/// Why an answer was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// Never asked, already answered, or withdrawn (its turn ended).
    #[error("no request `{0}` is waiting for an answer")]
    Unknown(String),
    #[error("request `{request_id}` waits for {expected}, not {given}")]
    WrongKind { request_id: String, expected: &'static str, given: &'static str },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Approval,
    UserInput,
}

impl Expect {
    fn of(answer: &Answer) -> Expect {
        match answer {
            Answer::Approval(_) => Expect::Approval,
            Answer::UserInput(_) => Expect::UserInput,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Expect::Approval => "an approval decision",
            Expect::UserInput => "user input",
        }
    }
}

struct Waiting {
    expects: Expect,
    reply: oneshot::Sender<Answer>,
}

/// The turn the tools run for: its id, named in requests, and its cancellation, which a `cancel` decision fires.
#[derive(Clone)]
struct Turn {
    id: String,
    cancel: CancellationToken,
}

/// Asks the frontend on behalf of a session's tools, and routes the answers back.
pub struct Asker {
    events: EventSink,
    interaction: Interaction,
    next_id: AtomicU64,
    waiting: Mutex<HashMap<String, Waiting>>,
    turn: Mutex<Option<Turn>>,
}

/// Removes a request from the waiting ones when its asker stops waiting, answered or not.
struct Registration<'a> {
    asker: &'a Asker,
    id: String,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.asker.lock().remove(&self.id);
    }
}

impl Asker {
    pub fn new(events: EventSink, interaction: Interaction) -> Asker {
        Asker {
            events,
            interaction,
            next_id: AtomicU64::new(0),
            waiting: Mutex::new(HashMap::new()),
            turn: Mutex::new(None),
        }
    }

    pub fn interaction(&self) -> Interaction {
        self.interaction
    }

    /// Whether someone answers: tools ask only then.
    pub fn answered(&self) -> bool {
        self.interaction.answered
    }

    /// The turn that tools now run for; its cancellation ends it on a `cancel` decision.
    pub fn begin_turn(&self, turn_id: &str, cancel: CancellationToken) {
        *self.turn.lock().unwrap_or_else(|p| p.into_inner()) = Some(Turn { id: turn_id.to_string(), cancel });
    }

    fn current_turn(&self) -> Option<Turn> {
        self.turn.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The running turn's id (empty outside a turn).
    pub fn turn_id(&self) -> String {
        self.current_turn().map(|t| t.id).unwrap_or_default()
    }

    /// Ends the running turn as an interrupt does (a `cancel` decision).
    pub fn cancel_turn(&self) {
        if let Some(turn) = self.current_turn() {
            turn.cancel.cancel();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiting>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn register(&self, expects: Expect) -> (Registration<'_>, oneshot::Receiver<Answer>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed).to_string();
        let (reply, answer) = oneshot::channel();
        self.lock().insert(id.clone(), Waiting { expects, reply });
        (Registration { asker: self, id }, answer)
    }

    /// Asks for approval for the tool call `item_id` and waits for the decision. A request left unanswered because
    /// the frontend went away counts as `cancel`.
    pub async fn approval(&self, item_id: &str, kind: ApprovalKind) -> ApprovalDecision {
        let (registration, answer) = self.register(Expect::Approval);
        self.events.emit(Event::ApprovalRequested {
            request_id: registration.id.clone(),
            turn_id: self.turn_id(),
            item_id: item_id.to_string(),
            kind,
        });
        match answer.await {
            Ok(Answer::Approval(decision)) => decision,
            _ => ApprovalDecision::Cancel,
        }
    }

    /// Asks the questions of the tool call `item_id` and waits for the answers; `None` when the request went
    /// unanswered (the frontend went away). Nobody to ask: empty answers at once.
    pub async fn user_input(&self, item_id: &str, questions: Vec<UserInputQuestion>) -> Option<UserInputAnswers> {
        if !self.answered() {
            return Some(UserInputAnswers::default());
        }
        let (registration, answer) = self.register(Expect::UserInput);
        self.events.emit(Event::UserInputRequested {
            request_id: registration.id.clone(),
            turn_id: self.turn_id(),
            item_id: item_id.to_string(),
            questions,
        });
        match answer.await {
            Ok(Answer::UserInput(answers)) => Some(answers),
            _ => None,
        }
    }

    /// Hands the frontend's answer to the tool waiting for it.
    pub fn resolve(&self, request_id: &str, answer: Answer) -> Result<(), ResolveError> {
        let mut waiting = self.lock();
        let expected = waiting.get(request_id).ok_or_else(|| ResolveError::Unknown(request_id.to_string()))?.expects;
        let given = Expect::of(&answer);
        if expected != given {
            return Err(ResolveError::WrongKind {
                request_id: request_id.to_string(),
                expected: expected.name(),
                given: given.name(),
            });
        }
        let entry = waiting.remove(request_id).expect("looked up above");
        // The tool may have stopped waiting (its turn ended) since: the answer then goes nowhere.
        entry.reply.send(answer).map_err(|_| ResolveError::Unknown(request_id.to_string()))
    }

    /// The ids of the requests waiting for an answer.
    pub fn waiting(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.lock().keys().cloned().collect();
        ids.sort();
        ids
    }
}

/// What a session's person approved for the rest of it: commands (`acceptForSession`), files patches may write
/// (`acceptForSession` on a patch), and command prefixes (`acceptWithExecpolicyAmendment`).
#[derive(Default)]
pub struct Approved {
    keys: Mutex<HashSet<String>>,
    prefixes: Mutex<Vec<Vec<String>>>,
}

impl Approved {
    fn keys(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether every key was approved for the session (and there is at least one).
    pub fn all(&self, keys: &[String]) -> bool {
        let approved = self.keys();
        !keys.is_empty() && keys.iter().all(|key| approved.contains(key))
    }

    pub fn insert(&self, keys: impl IntoIterator<Item = String>) {
        self.keys().extend(keys);
    }

    pub fn add_prefix(&self, prefix: Vec<String>) {
        if !prefix.is_empty() {
            self.prefixes.lock().unwrap_or_else(|p| p.into_inner()).push(prefix);
        }
    }

    /// Whether every one of `commands` starts with an approved prefix.
    pub fn prefixes_cover(&self, commands: &[Vec<String>]) -> bool {
        let prefixes = self.prefixes.lock().unwrap_or_else(|p| p.into_inner());
        !commands.is_empty() && commands.iter().all(|command| prefixes.iter().any(|p| command.starts_with(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn recording() -> (EventSink, Arc<Mutex<Vec<Event>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        (EventSink::new(move |event| sink.lock().unwrap().push(event)), seen)
    }

    fn answered() -> Interaction {
        Interaction { answered: true, default_mode_request_user_input: true, mcp_approvals: false }
    }

    #[test]
    fn decisions_are_named_as_the_protocol_names_them() {
        let text = |d: &ApprovalDecision| serde_json::to_string(d).unwrap();
        assert_eq!(text(&ApprovalDecision::Accept), r#""accept""#);
        assert_eq!(text(&ApprovalDecision::AcceptForSession), r#""acceptForSession""#);
        assert_eq!(text(&ApprovalDecision::Decline), r#""decline""#);
        assert_eq!(text(&ApprovalDecision::Cancel), r#""cancel""#);
        let amend = ApprovalDecision::AcceptWithExecpolicyAmendment { execpolicy_amendment: vec!["echo".into()] };
        assert_eq!(text(&amend), r#"{"acceptWithExecpolicyAmendment":{"execpolicy_amendment":["echo"]}}"#);
        let read: ApprovalDecision =
            serde_json::from_str(r#"{"acceptWithExecpolicyAmendment":{"execpolicy_amendment":["echo"]}}"#).unwrap();
        assert_eq!(read, amend);
    }

    #[test]
    fn answers_serialize_as_the_response_the_model_reads() {
        let answers = UserInputAnswers::new([("color", ["Red"])]);
        assert_eq!(serde_json::to_string(&answers).unwrap(), r#"{"answers":{"color":{"answers":["Red"]}}}"#);
        assert_eq!(serde_json::to_string(&UserInputAnswers::default()).unwrap(), r#"{"answers":{}}"#);
    }

    #[tokio::test]
    async fn an_approval_waits_for_its_answer_and_names_the_turn_and_call() {
        let (events, seen) = recording();
        let asker = Arc::new(Asker::new(events, answered()));
        asker.begin_turn("turn-1", CancellationToken::new());
        let waiting = tokio::spawn({
            let asker = asker.clone();
            async move {
                let kind = ApprovalKind::Patch { changes: Vec::new(), reason: None, grant_root: None };
                asker.approval("call_1", kind).await
            }
        });
        while asker.waiting().is_empty() {
            tokio::task::yield_now().await;
        }
        let request_id = match &seen.lock().unwrap()[0] {
            Event::ApprovalRequested { request_id, turn_id, item_id, .. } => {
                assert_eq!((turn_id.as_str(), item_id.as_str()), ("turn-1", "call_1"));
                request_id.clone()
            }
            other => panic!("{other:?}"),
        };
        let wrong = asker.resolve(&request_id, Answer::UserInput(UserInputAnswers::default()));
        assert!(matches!(wrong, Err(ResolveError::WrongKind { .. })), "{wrong:?}");
        asker.resolve(&request_id, Answer::Approval(ApprovalDecision::Decline)).unwrap();
        assert_eq!(waiting.await.unwrap(), ApprovalDecision::Decline);
        assert_eq!(
            asker.resolve(&request_id, Answer::Approval(ApprovalDecision::Accept)),
            Err(ResolveError::Unknown(request_id)),
            "answered once"
        );
    }

    #[tokio::test]
    async fn a_wait_dropped_withdraws_its_request() {
        let (events, _) = recording();
        let asker = Arc::new(Asker::new(events, answered()));
        let task = tokio::spawn({
            let asker = asker.clone();
            async move { asker.user_input("call_ask", Vec::new()).await }
        });
        while asker.waiting().is_empty() {
            tokio::task::yield_now().await;
        }
        task.abort();
        let _ = task.await;
        assert!(asker.waiting().is_empty(), "an interrupted tool's request is gone");
        let late = asker.resolve("0", Answer::UserInput(UserInputAnswers::default()));
        assert_eq!(late, Err(ResolveError::Unknown("0".into())));
    }

    #[tokio::test]
    async fn nobody_to_ask_gives_empty_answers_without_a_request() {
        let (events, seen) = recording();
        let asker = Asker::new(events, Interaction::default());
        assert_eq!(asker.user_input("call_ask", Vec::new()).await, Some(UserInputAnswers::default()));
        assert!(seen.lock().unwrap().is_empty());
    }

    #[test]
    fn session_approvals_cover_keys_and_prefixes() {
        let approved = Approved::default();
        assert!(!approved.all(&[]), "nothing is not approved");
        approved.insert(["a".to_string()]);
        assert!(approved.all(&["a".into()]) && !approved.all(&["a".into(), "b".into()]));
        approved.add_prefix(vec!["git".into(), "status".into()]);
        let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert!(approved.prefixes_cover(&[words("git status -s")]));
        assert!(!approved.prefixes_cover(&[words("git status"), words("rm x")]));
    }
}
