//! Compaction: a thread's history replaced by a summary the model writes of it, as upstream 0.169.0 compacts a
//! thread on request (the app server's `thread/compact/start`, [`crate::thread::Op::Compact`]) and before a turn that
//! switches to a model of another compaction family ([`compacts_on_switch`]: the previous model summarizes).
//!
//! A compaction on request is a turn of its own, with one request: the history, then upstream's compaction prompt as a last
//! user message (from the prompt pack, [`keys::COMPACT_PROMPT`]), no tools, and turn metadata that say what it is
//! (`request_kind: compaction`, and how it was asked for). The history then becomes: a fresh context (the items a new
//! session starts with, under new ids), the user's own messages so far (as they were, ids included; the context's,
//! interrupted-turn markers and earlier summaries left out), and a user message holding the model's summary after
//! upstream's prefix ([`keys::COMPACT_SUMMARY_PREFIX`]). The next request opens a new context window
//! (`window_number` + 1, a new `context_window_id`). The session file keeps a `compacted` record with that history
//! and window, from which a resumed thread continues (see [`crate::rollout::load`]).
//!
//! Usage is told as upstream's app server tells it: the thread's usage so far when the response begins, again with
//! the response's once it completes, then the new history's estimated size as the last usage.

use rcodex_prompt_pack::{Pack, keys};
use serde_json::{Value, json};

use super::{Session, TurnControl, TurnError, TurnSummary, environment, missing_key, split_prefix, unix_now};
use crate::client::{ApiError, ResponseEvent, Usage, backoff};
use crate::context::ModelProfile;
use crate::events::Event;
use crate::items;
use crate::request::{RequestContext, TurnIds, git_workspaces};

/// How much of the user's messages a compacted history keeps, in estimated tokens: the most recent ones, whole.
const KEPT_USER_TOKENS: u64 = 20_000;

/// Why a history is compacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compaction {
    /// The user asked for it: a turn of its own.
    Requested,
    /// A turn switches to a model whose compaction differs (its catalog's `comp_hash`): before the turn's first
    /// request, the previous model summarizes the history for the new one.
    ModelChanged,
    /// The context passed the auto-compaction limit ([`Session::auto_compact_limit`]): before a turn's first request,
    /// or between two requests of a turn (`mid_turn`), once the tools called have answered.
    ContextLimit { mid_turn: bool },
}

impl Compaction {
    /// What upstream's turn metadata says of it, compacting `remotely` or not.
    fn metadata(self, remotely: bool) -> Value {
        let (trigger, reason, phase) = match self {
            Compaction::Requested => ("manual", "user_requested", "standalone_turn"),
            Compaction::ModelChanged => ("auto", "comp_hash_changed", "pre_turn"),
            Compaction::ContextLimit { mid_turn: false } => ("auto", "context_limit", "pre_turn"),
            Compaction::ContextLimit { mid_turn: true } => ("auto", "context_limit", "mid_turn"),
        };
        json!({
            "trigger": trigger,
            "reason": reason,
            "implementation": if remotely { "responses_compaction_v2" } else { "responses" },
            "phase": phase,
            "strategy": "memento",
        })
    }
}

/// Whether a turn moving from model `before` to `after` compacts first: when the catalog gives both a compaction
/// hash and they differ.
pub fn compacts_on_switch(before: &ModelProfile, after: &ModelProfile) -> bool {
    let hash = |model: &ModelProfile| model.info.and_then(|info| info.comp_hash.clone());
    matches!((hash(before), hash(after)), (Some(a), Some(b)) if a != b)
}

impl Session {
    /// The context size (the last response's total tokens) at which the thread compacts by itself, as upstream
    /// bounds it: `model_auto_compact_token_limit`, at most 90% of the catalog's window; either alone; none for a
    /// model the catalog does not know when none is configured.
    pub(crate) fn auto_compact_limit(&self) -> Option<u64> {
        compaction_limit(self.config.model_auto_compact_token_limit, self.model.info.and_then(|i| i.context_window))
    }

    /// Whether the context has reached [`Self::auto_compact_limit`].
    pub(crate) fn needs_compaction(&self) -> bool {
        self.auto_compact_limit().is_some_and(|limit| self.last_usage.total_tokens >= limit)
    }

    /// A compaction inside a turn (before its first request or between two): the turn goes on in the new context
    /// window (`ids`), or ends as an interrupted or failed turn ends.
    pub(crate) async fn compact_within_turn(
        &mut self,
        ids: &mut TurnIds,
        control: &TurnControl,
        started: std::time::Instant,
        summarizer: Option<&ModelProfile<'static>>,
        why: Compaction,
    ) -> Result<(), TurnError> {
        match self.replace_history(ids, control, summarizer, why).await {
            Ok(()) => {
                ids.context_window_id = self.context_window_id.clone();
                ids.window_number = self.window_number;
                Ok(())
            }
            Err(TurnError::Interrupted) => Err(self.abort(&ids.turn_id, started)),
            Err(TurnError::Api(error)) => Err(self.fail_turn(ids, started, error)),
        }
    }

    /// Compacts the thread's history, as a turn of its own (announced as one). The history is left as it was when
    /// the compaction fails or is interrupted.
    pub async fn compact(&mut self, control: &TurnControl) -> Result<TurnSummary, TurnError> {
        let turn_id = control.turn_id.clone();
        let ids = self.turn_ids(&turn_id);
        let started = std::time::Instant::now();
        self.materialize_rollout();
        self.events.emit(Event::TurnStarted { turn_id: turn_id.clone() });
        self.turn_usage = Usage::default();
        self.save(
            "event_msg",
            json!({"type": "task_started", "turn_id": turn_id, "root_turn_id": turn_id,
                "started_at": ids.turn_started_at_unix_ms / 1000, "model_context_window": self.context_window(),
                "collaboration_mode_kind": "default"}),
        );
        // A thread compacted before its first turn: the compaction records the fresh context instead.
        self.first_turn = None;
        match self.replace_history(&ids, control, None, Compaction::Requested).await {
            Ok(()) => {}
            Err(TurnError::Interrupted) => {
                // Nothing was replaced: the thread goes on as it was, without the marker of an interrupted turn.
                self.save(
                    "event_msg",
                    json!({"type": "turn_aborted", "turn_id": turn_id, "reason": "interrupted",
                        "completed_at": unix_now(), "duration_ms": started.elapsed().as_millis() as u64}),
                );
                self.events.emit(Event::TurnAborted { turn_id });
                return Err(TurnError::Interrupted);
            }
            // The history stays as it was.
            Err(TurnError::Api(error)) => return Err(self.fail_turn(&ids, started, error)),
        }
        self.save(
            "event_msg",
            json!({"type": "task_complete", "root_turn_id": turn_id, "turn_id": turn_id, "last_agent_message": null,
                "started_at": ids.turn_started_at_unix_ms / 1000, "completed_at": unix_now(),
                "duration_ms": started.elapsed().as_millis() as u64}),
        );
        self.events.emit(Event::TurnCompleted { usage: self.usage.into(), turn_id });
        Ok(TurnSummary { last_message: None, usage: self.usage })
    }

    /// Has the model summarize the history (`summarizer`, or the thread's model) and replaces the history with the
    /// compacted one, in a new context window; the thread's model writes the fresh context. Told as a compaction
    /// item of `ids`' turn. The history is left as it was when the summary fails or is interrupted.
    pub(crate) async fn replace_history(
        &mut self,
        ids: &TurnIds,
        control: &TurnControl,
        summarizer: Option<&ModelProfile<'static>>,
        why: Compaction,
    ) -> Result<(), TurnError> {
        let turn_id = &ids.turn_id;
        let item_id = uuid::Uuid::now_v7().to_string();
        let item_started_ms = crate::records::now_ms();
        self.events.emit(Event::CompactionStarted { turn_id: turn_id.clone(), id: item_id.clone() });
        let summary = self.summarize(ids, control, summarizer, why).await?;
        let (history, context) = self.compacted_history(summary).map_err(|m| TurnError::Api(ApiError::Fatal(m)))?;
        self.history = history;
        self.window_number += 1;
        self.context_window_id = uuid::Uuid::now_v7().to_string();
        let last = self.history.last();
        let summary_text = last.filter(|item| item["type"] == "message").map(items::text_of).unwrap_or_default();
        // The fresh context entered the conversation in this turn, though not as the client's own words.
        let mut replacement = self.history.clone();
        for item in &mut replacement {
            let made_now = !context.contains(item);
            self.model_client.keep_metadata(item, turn_id, made_now);
        }
        self.save(
            "compacted",
            json!({
                "message": summary_text,
                "replacement_history": replacement,
                "window_number": self.window_number,
                "window_id": self.context_window_id,
            }),
        );
        // The world the fresh context describes, and the settings, as a new thread's first turn records them.
        let world = crate::records::world_state(&self.environment, &self.model.slug, &context);
        self.save("world_state", world);
        self.save_turn_context(turn_id, false);
        let settings = crate::records::thread_settings_applied(&self.thread_id, &self.config, &self.model.slug);
        self.save("event_msg", settings);
        // The new history's size, as upstream estimates it, is the last usage from now on.
        let estimate = estimated_tokens(self.base_instructions(), &self.history);
        self.last_usage = Usage { total_tokens: estimate, ..Usage::default() };
        self.tell_usage(turn_id);
        self.events.emit(Event::RateLimits { turn_id: turn_id.clone() });
        self.save_token_count();
        let item = json!({"type": "ContextCompaction", "id": item_id});
        let now = crate::records::now_ms();
        self.save("event_msg", crate::records::item_completed(&self.thread_id, turn_id, item, item_started_ms, now));
        self.events.emit(Event::CompactionCompleted { turn_id: turn_id.clone(), id: item_id });
        Ok(())
    }

    /// The compaction request, resent on retryable failures: the model's summary of the history or, on the
    /// built-in provider, the server's compaction of it (remote compaction v2: the turn's own request, tools and
    /// all, with a `compaction_trigger` item last, answered by a `compaction` item the next requests carry instead
    /// of the history).
    async fn summarize(
        &mut self,
        ids: &TurnIds,
        control: &TurnControl,
        summarizer: Option<&ModelProfile<'static>>,
        why: Compaction,
    ) -> Result<Compacted, TurnError> {
        if let Some(error) = missing_key(&self.config.model_provider) {
            return Err(TurnError::Api(error));
        }
        let remotely = self.model_client.builtin();
        let mut input = items::with_missing_outputs(self.prefix.iter().chain(self.history.iter()).cloned().collect());
        if remotely {
            input.push(json!({"type": "compaction_trigger"}));
        } else {
            let prompt = self
                .pack
                .text(keys::COMPACT_PROMPT)
                .ok_or_else(|| TurnError::Api(ApiError::Fatal(missing_text(keys::COMPACT_PROMPT))))?;
            input.push(json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": prompt}]}));
        }
        let cx = RequestContext {
            pack: self.pack,
            model: summarizer.unwrap_or(&self.model),
            config: &self.config,
            ids,
            workspaces: git_workspaces(&self.config.cwd),
            output_schema: None,
            client: self.client.as_ref(),
            surface: self.surface,
        };
        let metadata = as_compaction(&cx.turn_metadata(), why, remotely);
        let mut body = cx.body(&input, &metadata);
        // No tools are offered for a summary.
        if !remotely {
            if let Some(tools) = body.get_mut("tools") {
                *tools = json!([]);
            }
            if let Some(parallel) = body.get_mut("parallel_tool_calls") {
                *parallel = json!(false);
            }
        }
        let headers = cx.headers(&metadata);

        let max_retries = self.config.model_provider.stream_max_retries();
        let mut attempt = 0;
        loop {
            let mut answer: Option<Value> = None;
            let mut completed_usage = None;
            let mut response_id = None;
            let mut began = false;
            let outcome = {
                let (events, usage, last_usage) = (&self.events, self.usage, self.last_usage);
                let stream = self.model_client.stream(&headers, &body, |event| match event {
                    // Upstream tells the usage so far as the response begins.
                    ResponseEvent::Created => {
                        began = true;
                        events.emit(usage_event(&ids.turn_id, usage, last_usage));
                        events.emit(Event::RateLimits { turn_id: ids.turn_id.clone() });
                    }
                    ResponseEvent::OutputItemDone(item)
                        if item["type"] == "compaction" && remotely
                            || item["type"] == "message" && item["role"] == "assistant" && !remotely =>
                    {
                        answer = Some(item);
                    }
                    ResponseEvent::Completed { usage, response_id: id } => {
                        completed_usage = Some(usage.unwrap_or_default());
                        response_id = Some(id);
                    }
                    _ => {}
                });
                tokio::select! {
                    outcome = stream => outcome,
                    () = control.cancel.cancelled() => return Err(TurnError::Interrupted),
                }
            };
            // As upstream records the usage told as the response began (a remote compaction's, it does not).
            if began && !remotely {
                self.save_token_count();
            }
            match outcome {
                Ok(()) => {
                    let usage = completed_usage.unwrap_or_default();
                    // Upstream leaves a remote compaction out of the thread's usage it tells.
                    if remotely {
                        self.compaction_usage.add(&usage);
                    } else {
                        self.usage.add(&usage);
                    }
                    self.last_usage = usage;
                    self.turn_usage.add(&usage);
                    self.tell_usage(&ids.turn_id);
                    self.events.emit(Event::ResponseEnded { turn_id: ids.turn_id.clone(), completed: true });
                    let compacted = if remotely {
                        let item = answer.ok_or_else(|| {
                            TurnError::Api(ApiError::Fatal(
                                "the compaction request was answered without a compaction item".into(),
                            ))
                        })?;
                        Compacted::Item(item)
                    } else {
                        let summary = answer.as_ref().map(items::text_of).unwrap_or_default();
                        if let Some(answer) = answer {
                            self.save("response_item", items::from_model(answer, self.pack));
                        }
                        Compacted::Summary(summary)
                    };
                    let record = self.usage_record(&ids.turn_id, response_id, &usage);
                    self.save("token_usage_record", record);
                    if !remotely {
                        self.save_token_count();
                    }
                    return Ok(compacted);
                }
                Err(ApiError::Retryable { message, delay, status }) if attempt < max_retries => {
                    attempt += 1;
                    let reconnect =
                        crate::events::Reconnect { attempt, max: max_retries, details: message, http_status: status };
                    self.events.emit(reconnect.event());
                    tokio::select! {
                        () = tokio::time::sleep(delay.unwrap_or_else(|| backoff(attempt))) => {}
                        () = control.cancel.cancelled() => return Err(TurnError::Interrupted),
                    }
                }
                Err(error) => return Err(TurnError::Api(error)),
            }
        }
    }

    /// The history that replaces the thread's (the user's messages, a fresh context, the summary or the server's
    /// compaction item), and the fresh
    /// context. The environment is taken anew: the context describes it from now on.
    fn compacted_history(&mut self, compacted: Compacted) -> Result<(Vec<Value>, Vec<Value>), String> {
        let last = match compacted {
            Compacted::Summary(summary) => {
                let prefix = self
                    .pack
                    .text(keys::COMPACT_SUMMARY_PREFIX)
                    .ok_or_else(|| missing_text(keys::COMPACT_SUMMARY_PREFIX))?;
                items::user_message(&format!("{prefix}{summary}"))
            }
            Compacted::Item(item) => item,
        };
        let environment = environment(&self.config).map_err(|e| e.to_string())?;
        let context = crate::context::initial_context(self.pack, &self.model, &environment, &self.thread_id)
            .map_err(|e| e.to_string())?;
        // The model may be another than the one the history was made with (a switch compacts before the turn).
        let (name_based, context) = split_prefix(&self.model, context);
        self.prefix = name_based;
        self.environment = environment;
        // As upstream places it: before the last of the user's messages (before the summary when there is none).
        let mut history = kept_user_messages(self.pack, &self.history);
        let at = history.len().saturating_sub(1);
        history.splice(at..at, context.iter().cloned());
        history.push(last);
        Ok((history, context))
    }

    /// The model's base instructions, as upstream counts them in its estimate of a history's size.
    fn base_instructions(&self) -> &str {
        self.model
            .info
            .and_then(|info| info.instructions_template.as_deref())
            .or_else(|| self.pack.text(&keys::model_instructions(&self.model.slug)))
            .unwrap_or_default()
    }

    /// Tells the thread's usage and the last response's.
    fn tell_usage(&self, turn_id: &str) {
        self.events.emit(usage_event(turn_id, self.usage, self.last_usage));
    }

    fn save_token_count(&mut self) {
        let count = crate::records::token_count(&self.usage, &self.last_usage, self.context_window());
        self.save("event_msg", count);
    }
}

/// The configured limit, at most 90% of the model's window; either alone.
fn compaction_limit(configured: Option<u64>, window: Option<u64>) -> Option<u64> {
    let window_limit = window.map(|window| window * 9 / 10);
    match (configured, window_limit) {
        (Some(configured), Some(window_limit)) => Some(configured.min(window_limit)),
        (configured, window_limit) => configured.or(window_limit),
    }
}

fn missing_text(key: &str) -> String {
    format!("the prompt pack has no text {key} (record a scenario that shows it, then run parity pack)")
}

fn usage_event(turn_id: &str, total: Usage, last: Usage) -> Event {
    Event::TokenUsage {
        turn_id: turn_id.to_string(),
        total: total.into(),
        last: last.into(),
        total_tokens: total.total_tokens,
        last_tokens: last.total_tokens,
    }
}

/// What a compaction request answers.
enum Compacted {
    /// The model's summary of the history.
    Summary(String),
    /// The server's compaction of it (remotely), an item to send as it is.
    Item(Value),
}

/// A turn's metadata made a compaction's, as upstream sends it: its kind, why, and no model or effort.
fn as_compaction(metadata: &str, why: Compaction, remotely: bool) -> String {
    let Ok(Value::Object(mut values)) = serde_json::from_str::<Value>(metadata) else { return metadata.to_string() };
    values.insert("request_kind".into(), json!("compaction"));
    values.shift_remove("model");
    values.shift_remove("reasoning_effort");
    // A compaction the user asked for is no turn the user triggered (upstream's interface sends none for it); one
    // inside a turn is part of that turn.
    if why == Compaction::Requested {
        values.shift_remove("turn_trigger");
    }
    values.insert("compaction".into(), why.metadata(remotely));
    Value::Object(values).to_string()
}

/// The user's own messages of a history, the most recent that fit [`KEPT_USER_TOKENS`], in their order: user
/// messages that are not the context's, an interrupted turn's marker or an earlier summary.
fn kept_user_messages(pack: &Pack, history: &[Value]) -> Vec<Value> {
    let mut kept = Vec::new();
    let mut budget = KEPT_USER_TOKENS;
    for item in history.iter().rev() {
        if item["type"] != "message" || item["role"] != "user" || is_contextual(pack, &message_text(item)) {
            continue;
        }
        let tokens = item_tokens(item);
        if tokens > budget {
            break;
        }
        budget -= tokens;
        kept.push(item.clone());
    }
    kept.reverse();
    kept
}

/// Whether a user message's text is one rcodex writes rather than the user: it begins as a pack text of the
/// context (the environment, AGENTS.md), the marker of an interrupted turn or the summary prefix begins, up to its
/// first placeholder.
fn is_contextual(pack: &Pack, text: &str) -> bool {
    let fixed = [keys::AGENTS_MD, keys::TURN_ABORTED, keys::COMPACT_SUMMARY_PREFIX];
    pack.texts
        .iter()
        .filter(|(key, _)| key.starts_with(&keys::environment_context("")) || fixed.contains(&key.as_str()))
        .any(|(_, template)| {
            let lead = template.split("{{").next().unwrap_or_default();
            !lead.is_empty() && text.starts_with(lead)
        })
}

/// A message's text parts, together.
fn message_text(item: &Value) -> String {
    let parts = item.get("content").and_then(Value::as_array).into_iter().flatten();
    parts.filter_map(|part| part.get("text").and_then(Value::as_str)).collect()
}

/// Upstream's estimate of an item's size: a token per 4 bytes (rounded up) of a message's text, or of another
/// item's JSON.
fn item_tokens(item: &Value) -> u64 {
    let bytes = match item.get("type").and_then(Value::as_str) {
        Some("message") => message_text(item).len(),
        _ => item.to_string().len(),
    };
    (bytes as u64).div_ceil(4)
}

/// Upstream's estimate of a history's size: the model's base instructions and each item.
fn estimated_tokens(instructions: &str, history: &[Value]) -> u64 {
    (instructions.len() as u64).div_ceil(4) + history.iter().map(item_tokens).sum::<u64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(text: &str) -> Value {
        items::user_message(text)
    }

    #[test]
    fn the_user_messages_are_kept_and_what_rcodex_wrote_is_not() {
        let pack = rcodex_prompt_pack::embedded();
        let environment = pack.text(&keys::environment_context("read-only")).unwrap().replace("{{cwd}}", "/w");
        let marker = pack.text(keys::TURN_ABORTED).unwrap();
        let summary = format!("{}Earlier work.", pack.text(keys::COMPACT_SUMMARY_PREFIX).unwrap());
        let history = vec![
            items::message("developer", items::new_id("msg"), ["instructions".to_string()]),
            user(&environment),
            user("first"),
            json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]}),
            user(marker),
            user(&summary),
            user("second"),
        ];
        let kept: Vec<String> = kept_user_messages(pack, &history).iter().map(message_text).collect();
        assert_eq!(kept, ["first", "second"]);

        // The most recent messages that fit, whole.
        let long = "x".repeat(4 * 15_000);
        let history = vec![user("oldest"), user(&long), user(&long), user("newest")];
        let kept: Vec<String> = kept_user_messages(pack, &history).iter().map(message_text).collect();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[1], "newest");
    }

    #[test]
    fn the_estimate_counts_four_bytes_a_token_of_each_item() {
        let history = vec![user("12345"), items::message("developer", "id".into(), ["a".into(), "bcd".into()])];
        assert_eq!(estimated_tokens("123456789", &history), 3 + 2 + 1);
    }

    #[test]
    fn a_compaction_says_so_in_its_metadata_and_names_no_model() {
        let metadata =
            r#"{"turn_id":"t","request_kind":"turn","root_turn_id":"t","model":"m","reasoning_effort":"low"}"#;
        let compacted: Value = serde_json::from_str(&as_compaction(metadata, Compaction::Requested, false)).unwrap();
        let keys: Vec<&str> = compacted.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["turn_id", "request_kind", "root_turn_id", "compaction"]);
        assert_eq!(compacted["request_kind"], "compaction");
        assert_eq!(compacted["compaction"]["trigger"], "manual");

        // Before a turn, it is part of the turn the user triggered.
        let metadata = r#"{"turn_id":"t","request_kind":"turn","turn_trigger":"user","model":"m"}"#;
        let compacted: Value = serde_json::from_str(&as_compaction(metadata, Compaction::ModelChanged, true)).unwrap();
        assert_eq!(compacted["turn_trigger"], "user");
        assert_eq!(compacted["compaction"]["reason"], "comp_hash_changed");
        assert_eq!(compacted["compaction"]["phase"], "pre_turn");
        assert_eq!(compacted["compaction"]["implementation"], "responses_compaction_v2");
    }

    #[test]
    fn the_compaction_limit_is_the_configured_one_within_nine_tenths_of_the_window() {
        assert_eq!(compaction_limit(Some(5_000), Some(272_000)), Some(5_000));
        assert_eq!(compaction_limit(Some(900_000), Some(272_000)), Some(244_800));
        assert_eq!(compaction_limit(None, Some(272_000)), Some(244_800));
        assert_eq!(compaction_limit(Some(5_000), None), Some(5_000));
        assert_eq!(compaction_limit(None, None), None);
    }

    #[test]
    fn a_switch_compacts_only_between_models_the_catalog_gives_different_compaction_hashes() {
        let pack = rcodex_prompt_pack::embedded();
        let model = |slug: &str| crate::context::resolve_model(pack, slug).0;
        assert!(compacts_on_switch(&model("gpt-5.5"), &model("gpt-5.6-sol")));
        assert!(!compacts_on_switch(&model("gpt-5.6-sol"), &model("gpt-6.1-sol")));
        // A model the catalog does not know has no hash: nothing to compare.
        assert!(!compacts_on_switch(&model("gpt-5.5"), &model("my-own-model")));
    }
}
