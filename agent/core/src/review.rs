//! Code review, as upstream 0.169.0 runs it (`exec review`, `review`): the review is a sub-agent session of its own,
//! whose requests carry the review's instructions in place of the model's, its own tool set, and name the thread and
//! turn it runs for (`x-openai-subagent: review`). Its model answers with structured findings (JSON), which the
//! parent turn shows as one message: the overall explanation, then the findings.
//!
//! The texts (instructions, the request for each target, the findings' headers) and the sub-agent's recipe come from
//! the prompt pack, learned from the review scenarios.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rcodex_prompt_pack::{Pack, keys};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::context::ModelProfile;
use crate::events::{Event, EventSink, Item, ItemDetails, TurnUsage, UserInput};
use crate::session::{SessionOptions, TurnError, TurnSummary};
use crate::thread::ThreadHandle;

/// What to review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewTarget {
    /// Staged, unstaged and untracked changes.
    Uncommitted,
    /// The changes of the current branch against `branch` (from their merge base).
    BaseBranch { branch: String },
    /// The changes one commit introduced; `title` is shown to the model beside its hash.
    Commit { sha: String, title: Option<String> },
    /// The user's own instructions, sent as they are.
    Custom { instructions: String },
}

/// A session that runs for another thread's turn: what its requests say of that thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAgent {
    /// `x-openai-subagent` and the metadata's `subagent_kind`: `review`.
    pub kind: String,
    pub parent_thread_id: String,
    pub parent_turn_id: String,
    /// The frontend the parent runs under: the interface's reviewer has a recipe of its own (its tools).
    pub surface: crate::request::Surface,
}

/// The reviewer's answer, as its instructions ask for it. Fields it leaves out are empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReviewOutput {
    pub findings: Vec<Finding>,
    pub overall_correctness: String,
    pub overall_explanation: String,
    pub overall_confidence_score: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Finding {
    pub title: String,
    pub body: String,
    pub confidence_score: f64,
    pub priority: Option<i64>,
    pub code_location: CodeLocation,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CodeLocation {
    pub absolute_file_path: String,
    pub line_range: LineRange,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LineRange {
    pub start: u64,
    pub end: u64,
}

/// The user message that asks for the review of `target` in `cwd`, from the pack's templates. A base branch needs
/// the merge base of HEAD and the branch, found with git as upstream finds it.
pub fn review_request(pack: &Pack, target: &ReviewTarget, cwd: &Path) -> Result<String, String> {
    let template = |key: &str| pack.text(key).ok_or_else(|| format!("the prompt pack has no {key}"));
    let rendered = |key: &str, values: &[(&str, &str)]| -> Result<String, String> {
        rcodex_prompt_pack::render(template(key)?, values).map_err(|e| format!("{key}: {e}"))
    };
    match target {
        ReviewTarget::Uncommitted => Ok(template(keys::REVIEW_PROMPT_UNCOMMITTED)?.to_string()),
        ReviewTarget::Commit { sha, title: Some(title) } => {
            rendered(keys::REVIEW_PROMPT_COMMIT_TITLED, &[("sha", sha), ("title", title)])
        }
        ReviewTarget::Commit { sha, title: None } => rendered(keys::REVIEW_PROMPT_COMMIT, &[("sha", sha)]),
        ReviewTarget::BaseBranch { branch } => {
            let merge_base = merge_base_with_head(cwd, branch)?;
            rendered(keys::REVIEW_PROMPT_BASE, &[("branch", branch), ("merge_base", &merge_base)])
        }
        ReviewTarget::Custom { instructions } => Ok(instructions.trim().to_string()),
    }
}

/// The merge base of HEAD and `branch`, or of HEAD and the branch's upstream when the upstream has commits the
/// branch lacks (a local branch behind its remote), as upstream's review computes it.
pub fn merge_base_with_head(cwd: &Path, branch: &str) -> Result<String, String> {
    let git = |args: &[&str]| -> Option<String> {
        let output = std::process::Command::new("git").args(args).current_dir(cwd).output().ok()?;
        let text = String::from_utf8(output.stdout).ok()?.trim().to_string();
        (output.status.success() && !text.is_empty()).then_some(text)
    };
    git(&["rev-parse", "--verify", "HEAD"]).ok_or("the repository has no commit yet to review against a branch")?;
    let commit = format!("{branch}^{{commit}}");
    let branch_ref =
        git(&["rev-parse", "--verify", &commit]).ok_or_else(|| format!("--base {branch}: no such branch here"))?;
    let upstream = git(&["rev-parse", "--abbrev-ref", "--symbolic-full-name", &format!("{branch}@{{upstream}}")]);
    let ahead = |upstream: &str| {
        git(&["rev-list", "--left-right", "--count", &format!("{branch}...{upstream}")])
            .and_then(|counts| counts.split_whitespace().nth(1)?.parse::<u64>().ok())
            .is_some_and(|right| right > 0)
    };
    let preferred = upstream
        .filter(|u| ahead(u))
        .and_then(|u| git(&["rev-parse", "--verify", &format!("{u}^{{commit}}")]))
        .unwrap_or(branch_ref);
    git(&["merge-base", "HEAD", &preferred]).ok_or_else(|| format!("--base {branch}: no merge base with HEAD"))
}

/// The reviewer's answer read as upstream reads it: the whole text as JSON, else the text from its first `{` to its
/// last `}`, else the text itself as the overall explanation.
pub fn parse_review_output(text: &str) -> ReviewOutput {
    if let Ok(output) = serde_json::from_str(text) {
        return output;
    }
    if let (Some(start), Some(end)) = (text.find('{'), text.rfind('}'))
        && start < end
        && let Ok(output) = serde_json::from_str(&text[start..=end])
    {
        return output;
    }
    ReviewOutput { overall_explanation: text.to_string(), ..ReviewOutput::default() }
}

/// The message the review ends with: the overall explanation, then, after a blank line, the findings under the
/// pack's header (one or many), each as `- TITLE — PATH:START-END` and its body indented, a blank line before each.
pub fn render_review_output(pack: &Pack, output: &ReviewOutput) -> String {
    let mut sections = Vec::new();
    let explanation = output.overall_explanation.trim();
    if !explanation.is_empty() {
        sections.push(explanation.to_string());
    }
    if !output.findings.is_empty() {
        let key = if output.findings.len() > 1 {
            keys::REVIEW_FINDINGS_HEADER_MANY
        } else {
            keys::REVIEW_FINDINGS_HEADER_ONE
        };
        let mut lines = vec![pack.text(key).unwrap_or_default().to_string()];
        for finding in &output.findings {
            let location = &finding.code_location;
            lines.push(String::new());
            lines.push(format!(
                "- {} \u{2014} {}:{}-{}",
                finding.title, location.absolute_file_path, location.line_range.start, location.line_range.end
            ));
            lines.extend(finding.body.lines().map(|line| format!("  {line}")));
        }
        sections.push(lines.join("\n").trim().to_string());
    }
    sections.join("\n\n")
}

/// The recipe of the review sub-agent for `model`, when the pack recorded one (for the model, or for the family
/// it uses), else the model's own.
pub fn profile<'a>(pack: &'a Pack, model: ModelProfile<'a>, config: &Config) -> ModelProfile<'a> {
    let Some(sub) = &config.subagent else { return model };
    let families = match (sub.surface, &pack.tui, &pack.review) {
        (crate::request::Surface::Exec, _, Some(review)) => &review.families,
        (crate::request::Surface::Tui, Some(tui), _) => &tui.review_families,
        _ => return model,
    };
    match families.get(&model.slug).or_else(|| families.get(&model.family_slug)) {
        Some(family) => ModelProfile { family, ..model },
        None => model,
    }
}

/// The turn metadata of a sub-agent's request: the session is its parent's, the root turn the parent's turn, and it
/// says which kind of sub-agent it is; no trigger. Keys are put in order afterwards.
pub(crate) fn adjust_turn_metadata(config: &Config, values: &mut Map<String, Value>) {
    let Some(sub) = &config.subagent else { return };
    values.insert("session_id".into(), json!(sub.parent_thread_id));
    values.insert("parent_thread_id".into(), json!(sub.parent_thread_id));
    values.insert("parent_turn_id".into(), json!(sub.parent_turn_id));
    values.insert("root_turn_id".into(), json!(sub.parent_turn_id));
    values.insert("subagent_kind".into(), json!(sub.kind));
    values.insert("thread_source".into(), json!("subagent"));
    values.shift_remove("turn_trigger");
}

/// A sub-agent's request body: its prompt cache is its parent's session's, its client metadata names the parent.
pub(crate) fn adjust_body(config: &Config, fields: &mut Map<String, Value>) {
    let Some(sub) = &config.subagent else { return };
    fields.insert("prompt_cache_key".into(), json!(sub.parent_thread_id));
    if let Some(Value::Object(metadata)) = fields.get_mut("client_metadata") {
        metadata.insert("session_id".into(), json!(sub.parent_thread_id));
        metadata.insert("root_turn_id".into(), json!(sub.parent_turn_id));
        metadata.insert("parent_turn_id".into(), json!(sub.parent_turn_id));
        metadata.insert("x-openai-subagent".into(), json!(sub.kind));
        metadata.insert("x-codex-parent-thread-id".into(), json!(sub.parent_thread_id));
    }
}

/// A sub-agent's headers, before they are put in order: its session is its parent's, which it names, and its kind.
pub(crate) fn adjust_headers(config: &Config, known: &mut Vec<(String, String)>) {
    let Some(sub) = &config.subagent else { return };
    for (name, value) in known.iter_mut() {
        if name == "session-id" {
            *value = sub.parent_thread_id.clone();
        }
    }
    known.push(("x-codex-parent-thread-id".into(), sub.parent_thread_id.clone()));
    known.push(("x-openai-subagent".into(), sub.kind.clone()));
}

/// Runs a review as one turn of a new thread told to `events` (`exec review`): the thread and its turn start, the
/// reviewer's session runs (its commands and other items are told as the turn's, its own messages are not), and the
/// turn ends with the rendered findings. The usage told is the parent thread's, which the reviewer's requests do not
/// add to.
pub async fn run(options: SessionOptions, target: &ReviewTarget, events: EventSink) -> Result<TurnSummary, String> {
    let parent_thread_id = uuid::Uuid::now_v7().to_string();
    let review = Review::new(target, &parent_thread_id, &options.config.cwd)?;
    events.emit(Event::ThreadStarted { thread_id: parent_thread_id });
    review.run(options, events).await
}

/// Runs a review as a new turn of the thread `parent`, which is running and idle (the interface's `/review`): as
/// [`run`], without announcing a thread, and kept in the thread's history ([`Review::kept_in`]). The reviewer runs
/// under `options.surface`.
pub async fn run_in_thread(
    options: SessionOptions,
    parent: &ThreadHandle,
    target: &ReviewTarget,
    events: EventSink,
) -> Result<TurnSummary, String> {
    Review::new(target, parent.thread_id(), &options.config.cwd)?.kept_in(parent.clone()).run(options, events).await
}

/// A review about to run as a turn of a thread: its turn's id is known before it starts (the app server answers
/// `review/start` with it).
#[derive(Debug, Clone)]
pub struct Review {
    pub turn_id: String,
    /// What the review looks at, as the app server's items name it (see [`review_hint`]).
    pub hint: String,
    parent_thread_id: String,
    /// The reviewer's request.
    request: String,
    /// What stops it before its reviewer answers (the app server's `turn/interrupt`).
    pub stop: ReviewStop,
    /// The id of the message that closes it with the findings, which the thread's history keeps under it.
    message_id: String,
    /// The thread whose history keeps the findings once the review has ended ([`Review::kept_in`]).
    thread: Option<ThreadHandle>,
}

/// Stops a review while its reviewer runs ([`ReviewStop::interrupt`]), and tells when it has ended.
#[derive(Debug, Clone)]
pub struct ReviewStop {
    asked: Arc<tokio::sync::Notify>,
    ended: tokio::sync::watch::Receiver<bool>,
    end: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for ReviewStop {
    fn default() -> Self {
        let (end, ended) = tokio::sync::watch::channel(false);
        ReviewStop { asked: Arc::default(), ended, end: Arc::new(end) }
    }
}

impl ReviewStop {
    /// Interrupts the reviewer; returns once the review's turn has ended (at once if it already has).
    pub async fn interrupt(&self) {
        self.asked.notify_one();
        let mut ended = self.ended.clone();
        let _ = ended.wait_for(|ended| *ended).await;
    }

    /// Whether `other` stops the same review.
    pub fn is(&self, other: &ReviewStop) -> bool {
        Arc::ptr_eq(&self.asked, &other.asked)
    }

    fn ended(&self) {
        let _ = self.end.send(true);
    }
}

impl Review {
    /// The review of `target` (in `cwd`) as a turn of `parent_thread_id`; fails when the target cannot be asked
    /// for (a base branch that is not there).
    pub fn new(target: &ReviewTarget, parent_thread_id: &str, cwd: &Path) -> Result<Review, String> {
        let pack = rcodex_prompt_pack::embedded();
        let request = review_request(pack, target, cwd)?;
        Ok(Review {
            turn_id: uuid::Uuid::now_v7().to_string(),
            hint: review_hint(pack, target, &request),
            parent_thread_id: parent_thread_id.to_string(),
            request,
            stop: ReviewStop::default(),
            message_id: format!("msg_{}", uuid::Uuid::now_v7()),
            thread: None,
        })
    }

    /// The review of a thread that goes on after it: its findings stay in `thread`'s history for the next turns
    /// (upstream's `review/start` and `/review`, app-review-followup).
    pub fn kept_in(self, thread: ThreadHandle) -> Review {
        Review { thread: Some(thread), ..self }
    }

    /// Runs the review, telling `events` as its turn goes: [`Event::ReviewEntered`], the turn's start, the
    /// reviewer's turn ([`Event::ReviewerStarted`]) and its items, [`Event::ReviewExited`] with the findings, the
    /// closing message, the turn's end.
    pub async fn run(self, options: SessionOptions, events: EventSink) -> Result<TurnSummary, String> {
        let stop = self.stop.clone();
        let outcome = self.review(options, events).await;
        stop.ended();
        outcome
    }

    async fn review(self, options: SessionOptions, events: EventSink) -> Result<TurnSummary, String> {
        let pack = rcodex_prompt_pack::embedded();
        let instructions = pack.text(keys::REVIEW_INSTRUCTIONS).ok_or("the prompt pack has no review instructions")?;
        let Review { turn_id: parent_turn_id, hint, parent_thread_id, request, stop, message_id, thread } = self;

        let mut config = options.config.clone();
        config.subagent = Some(SubAgent {
            kind: "review".into(),
            parent_thread_id: parent_thread_id.clone(),
            parent_turn_id: parent_turn_id.clone(),
            surface: options.surface,
        });
        // The reviewer has its rubric only: no instructions of the project's or the user's.
        config.model_instructions = Some(instructions.to_string());
        config.project_doc_max_bytes = 0;
        config.thread_source = "subagent".into();

        let entered = uuid::Uuid::now_v7().to_string();
        events.emit(Event::ReviewEntered { turn_id: parent_turn_id.clone(), id: entered, review: hint });
        events.emit(Event::TurnStarted { turn_id: parent_turn_id.clone() });
        let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reviewer = reviewer_events(&events, &parent_turn_id, stopped.clone());
        let (handle, task) =
            ThreadHandle::spawn(SessionOptions { config, ..options }, reviewer).map_err(|e| e.to_string())?;
        let turn = handle.run_turn(vec![UserInput::Text { text: request }]);
        tokio::pin!(turn);
        let outcome = tokio::select! {
            outcome = &mut turn => outcome,
            _ = stop.asked.notified() => {
                // Upstream tells nothing more of the reviewer once it is stopped.
                stopped.store(true, std::sync::atomic::Ordering::SeqCst);
                handle.interrupt().await;
                turn.await
            }
        };
        handle.shutdown().await;
        let _ = task.await;
        let summary = match outcome {
            Ok(Ok(summary)) => summary,
            Ok(Err(TurnError::Interrupted)) if stopped.load(std::sync::atomic::Ordering::SeqCst) => {
                return interrupted(pack, &events, parent_turn_id);
            }
            Ok(Err(TurnError::Interrupted)) | Err(_) => return Err("the review was interrupted".into()),
            Ok(Err(error)) => return Err(error.to_string()),
        };
        let output = parse_review_output(summary.last_message.as_deref().unwrap_or_default());
        let text = render_review_output(pack, &output);
        let exited = uuid::Uuid::now_v7().to_string();
        events.emit(Event::ReviewExited { turn_id: parent_turn_id.clone(), id: exited, review: text.clone() });
        // Upstream names the closing message as a message of its own making, not the model's.
        let message = Item::new(events.item_id(), ItemDetails::AgentMessage { text: text.clone(), phase: None })
            .with_source(message_id.clone());
        events.emit(Event::ItemCompleted { item: message });
        if let Some(thread) = thread {
            let _ = thread.record_review(text.clone(), message_id);
        }
        events.emit(Event::TurnCompleted { usage: TurnUsage::default(), turn_id: parent_turn_id });
        Ok(TurnSummary { last_message: Some(text), usage: Default::default() })
    }
}

/// The end of a review stopped before its reviewer answered, as upstream's app server tells it: the pack's words
/// for its exit and its closing message, then the turn aborted.
fn interrupted(pack: &Pack, events: &EventSink, turn_id: String) -> Result<TurnSummary, String> {
    let text = |key: &str| pack.text(key).map(str::to_string).ok_or_else(|| format!("the prompt pack has no {key}"));
    let exited = text(keys::APP_REVIEW_INTERRUPTED_EXITED);
    let message = text(keys::APP_REVIEW_INTERRUPTED_MESSAGE);
    if let (Ok(exited), Ok(message)) = (&exited, &message) {
        let id = uuid::Uuid::now_v7().to_string();
        events.emit(Event::ReviewExited { turn_id: turn_id.clone(), id, review: exited.clone() });
        let item = Item::new(events.item_id(), ItemDetails::AgentMessage { text: message.clone(), phase: None })
            .with_source(format!("msg_{}", uuid::Uuid::now_v7()));
        events.emit(Event::ItemCompleted { item });
    }
    events.emit(Event::TurnAborted { turn_id });
    exited.and(message).and(Err("the review was interrupted".into()))
}

/// What the app server names a review of `target` by: the pack's words for its kind of target (learned from the
/// app-server reviews recorded), else what the reviewer is asked (`request`).
pub fn review_hint(pack: &Pack, target: &ReviewTarget, request: &str) -> String {
    let (kind, values): (&str, Vec<(&str, String)>) = match target {
        ReviewTarget::Uncommitted => ("uncommitted", vec![]),
        ReviewTarget::BaseBranch { branch } => ("base_branch", vec![("branch", branch.clone())]),
        // Upstream names a commit by its hash's first 7 characters.
        ReviewTarget::Commit { sha, title: Some(title) } => {
            ("commit_titled", vec![("short_sha", sha.chars().take(7).collect()), ("title", title.clone())])
        }
        ReviewTarget::Commit { sha, title: None } => ("commit", vec![("short_sha", sha.chars().take(7).collect())]),
        ReviewTarget::Custom { instructions } => ("custom", vec![("instructions", instructions.trim().to_string())]),
    };
    let values: Vec<(&str, &str)> = values.iter().map(|(name, value)| (*name, value.as_str())).collect();
    pack.text(&keys::app_review_hint(kind))
        .and_then(|template| rcodex_prompt_pack::render(template, &values).ok())
        .unwrap_or_else(|| request.to_string())
}

/// What the reviewer's session tells, as the parent turn's (`turn_id`): its thread and turn events go (the parent
/// has its own; its turn's start is told as the reviewer's), its messages go (the findings replace them; their start
/// is told as the answer's), and so do its usage and its responses' ends (they are not the thread's); the rest is
/// told with the parent's item numbering. Once the review is `stopped`, nothing more of the reviewer is told.
fn reviewer_events(parent: &EventSink, turn_id: &str, stopped: Arc<std::sync::atomic::AtomicBool>) -> EventSink {
    let parent = parent.clone();
    let turn_id = turn_id.to_string();
    let numbers: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    EventSink::new(move |event| {
        if stopped.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let renumber = |item: Item| -> Item {
            let mut numbers = numbers.lock().expect("numbers");
            let id = numbers.entry(item.id.clone()).or_insert_with(|| parent.item_id()).clone();
            Item { id, ..item }
        };
        match event {
            Event::TurnStarted { turn_id: reviewer_turn_id } => {
                parent.emit(Event::ReviewerStarted { turn_id: turn_id.clone(), reviewer_turn_id })
            }
            Event::AgentMessageStarted { id, .. } => {
                parent.emit(Event::ReviewerAnswerStarted { turn_id: turn_id.clone(), id })
            }
            Event::ThreadStarted { .. }
            | Event::TurnCompleted { .. }
            | Event::AgentMessageDelta { .. }
            | Event::TokenUsage { .. }
            | Event::ResponseEnded { .. }
            | Event::RateLimits { .. } => {}
            Event::ItemStarted { item } | Event::ItemUpdated { item } | Event::ItemCompleted { item }
                if matches!(item.details, ItemDetails::AgentMessage { .. }) => {}
            Event::ItemStarted { item } => parent.emit(Event::ItemStarted { item: renumber(item) }),
            Event::ItemUpdated { item } => parent.emit(Event::ItemUpdated { item: renumber(item) }),
            Event::ItemCompleted { item } => parent.emit(Event::ItemCompleted { item: renumber(item) }),
            other => parent.emit(other),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(title: &str, body: &str, path: &str, start: u64, end: u64) -> Finding {
        Finding {
            title: title.into(),
            body: body.into(),
            code_location: CodeLocation { absolute_file_path: path.into(), line_range: LineRange { start, end } },
            ..Finding::default()
        }
    }

    #[test]
    fn the_answer_is_read_as_json_then_as_the_json_inside_it_then_as_text() {
        let json = r#"{"findings":[{"title":"T","body":"B","code_location":{"absolute_file_path":"a.rs","line_range":{"start":1,"end":2}}}],"overall_explanation":"E"}"#;
        let whole = parse_review_output(json);
        assert_eq!(whole.findings, [finding("T", "B", "a.rs", 1, 2)]);
        assert_eq!(whole.overall_explanation, "E");
        assert_eq!(parse_review_output(&format!("Here it is:\n{json}\nDone.")), whole);
        let text = parse_review_output("Looks fine {but not json}");
        assert_eq!(text.overall_explanation, "Looks fine {but not json}");
        assert!(text.findings.is_empty());
    }

    #[test]
    fn findings_are_rendered_under_the_header_of_their_count() {
        let pack = rcodex_prompt_pack::embedded();
        let one = pack.text(keys::REVIEW_FINDINGS_HEADER_ONE).expect("the pack has the header of one finding");
        let many = pack.text(keys::REVIEW_FINDINGS_HEADER_MANY).expect("the pack has the header of many");
        let output = ReviewOutput {
            overall_explanation: " Broken. ".into(),
            findings: vec![finding("[P1] a", "line one\nline two", "src/a.rs", 2, 3)],
            ..ReviewOutput::default()
        };
        assert_eq!(
            render_review_output(pack, &output),
            format!("Broken.\n\n{one}\n\n- [P1] a \u{2014} src/a.rs:2-3\n  line one\n  line two")
        );
        let two = ReviewOutput {
            findings: vec![finding("a", "x", "a.rs", 1, 1), finding("b", "y", "b.rs", 5, 9)],
            ..ReviewOutput::default()
        };
        assert_eq!(
            render_review_output(pack, &two),
            format!("{many}\n\n- a \u{2014} a.rs:1-1\n  x\n\n- b \u{2014} b.rs:5-9\n  y")
        );
        let plain = ReviewOutput { overall_explanation: "All good.".into(), ..ReviewOutput::default() };
        assert_eq!(render_review_output(pack, &plain), "All good.");
    }

    /// A repository with `main` at one commit and `feature` one commit ahead, in a fresh directory.
    fn repository() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main"])
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        git(&["init", "-q"]);
        std::fs::write(dir.path().join("a"), "1").unwrap();
        git(&["add", "-A"]);
        git(&["commit", "-qm", "one"]);
        let base = git(&["rev-parse", "HEAD"]);
        git(&["checkout", "-qb", "feature"]);
        std::fs::write(dir.path().join("a"), "2").unwrap();
        git(&["commit", "-qam", "two"]);
        (dir, base)
    }

    #[test]
    fn each_target_asks_with_the_pack_s_words_and_its_own_values() {
        let pack = rcodex_prompt_pack::embedded();
        let (dir, base) = repository();
        let ask = |target: ReviewTarget| review_request(pack, &target, dir.path());
        assert_eq!(ask(ReviewTarget::Uncommitted).unwrap(), pack.text(keys::REVIEW_PROMPT_UNCOMMITTED).unwrap());
        let against_main = ask(ReviewTarget::BaseBranch { branch: "main".into() }).unwrap();
        assert!(against_main.contains(&base) && against_main.contains("main"), "{against_main}");
        assert!(!against_main.contains("{{"), "{against_main}");
        let titled = ask(ReviewTarget::Commit { sha: "abc123".into(), title: Some("Fix it".into()) }).unwrap();
        assert!(titled.contains("abc123") && titled.contains("Fix it"), "{titled}");
        let untitled = ask(ReviewTarget::Commit { sha: "abc123".into(), title: None }).unwrap();
        assert!(untitled.contains("abc123") && !untitled.contains("Fix it"), "{untitled}");
        let custom = ask(ReviewTarget::Custom { instructions: "  Look at errors.\n".into() }).unwrap();
        assert_eq!(custom, "Look at errors.");
        let e = ask(ReviewTarget::BaseBranch { branch: "nope".into() }).unwrap_err();
        assert!(e.contains("--base nope: no such branch"), "{e}");
    }

    #[test]
    fn a_sub_agent_s_requests_name_its_parent() {
        let home = tempfile::tempdir().unwrap();
        let overrides = crate::config::Overrides { codex_home: Some(home.path().into()), ..Default::default() };
        let mut config = Config::load(&overrides).unwrap();
        let mut values = Map::new();
        values.insert("session_id".into(), json!("child"));
        values.insert("turn_trigger".into(), json!("exec"));
        adjust_turn_metadata(&config, &mut values);
        assert_eq!(values["session_id"], "child", "a session of its own changes nothing");
        config.subagent = Some(SubAgent {
            kind: "review".into(),
            parent_thread_id: "p".into(),
            parent_turn_id: "t".into(),
            surface: Default::default(),
        });
        adjust_turn_metadata(&config, &mut values);
        assert_eq!(values["session_id"], "p");
        assert_eq!(values["root_turn_id"], "t");
        assert_eq!(values["subagent_kind"], "review");
        assert!(!values.contains_key("turn_trigger"));
        let mut headers = vec![("session-id".to_string(), "child".to_string())];
        adjust_headers(&config, &mut headers);
        assert_eq!(headers[0].1, "p");
        assert!(headers.contains(&("x-openai-subagent".into(), "review".into())));
        let mut body = Map::new();
        body.insert("client_metadata".into(), json!({"session_id": "child"}));
        adjust_body(&config, &mut body);
        assert_eq!(body["prompt_cache_key"], "p");
        assert_eq!(body["client_metadata"]["x-codex-parent-thread-id"], "p");
    }
}
