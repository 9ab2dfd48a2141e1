//! The goal tools (`get_goal`, `create_goal`, `update_goal`): one goal per thread, its objective, its status, and the
//! tokens and time spent on it, answered as upstream's JSON.
//!
//! The goal's usage is brought up to date at accounting points, as upstream's is: when the goal is updated and when a
//! turn ends. It then counts the tokens of every response since the goal was created or last accounted, the current
//! one included (its usage is known before its tool calls run); responses up to the one that created the goal do not
//! count. `get_goal` reads the goal as last accounted. That is what Codex 0.169.0 reports in the `goals` scenario.

use std::sync::Mutex;
use std::time::Instant;

use rcodex_prompt_pack::Pack;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ToolCall;
use crate::items;

/// The longest objective, in characters.
const MAX_OBJECTIVE_CHARS: usize = 4_000;

/// Where the pack keeps the report added when a goal with a budget or a duration is completed.
const COMPLETION_REPORT_KEY: &str = "goal/completion_budget_report";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Status {
    Active,
    Paused,
    Blocked,
    UsageLimited,
    BudgetLimited,
    Complete,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Goal {
    thread_id: String,
    objective: String,
    status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_budget: Option<i64>,
    tokens_used: i64,
    time_used_seconds: i64,
    created_at: i64,
    updated_at: i64,
    #[serde(skip)]
    started: Option<Instant>,
}

#[derive(Deserialize)]
struct CreateArgs {
    objective: String,
    #[serde(default)]
    token_budget: Option<i64>,
}

#[derive(Deserialize)]
struct UpdateArgs {
    status: Status,
}

#[derive(Default)]
struct State {
    goal: Option<Goal>,
    /// Tokens of every response of the session so far.
    session_tokens: i64,
    /// `session_tokens` when the goal was created or last accounted.
    accounted_tokens: i64,
}

impl State {
    /// Brings the active goal's usage up to date.
    fn account(&mut self) {
        let delta = self.session_tokens - self.accounted_tokens;
        self.accounted_tokens = self.session_tokens;
        if let Some(goal) = self.goal.as_mut().filter(|g| g.status == Status::Active) {
            goal.tokens_used += delta;
            goal.time_used_seconds = goal.started.map_or(0, |s| s.elapsed().as_secs() as i64);
            if goal.token_budget.is_some_and(|budget| goal.tokens_used >= budget) {
                goal.status = Status::BudgetLimited;
            }
        }
    }
}

/// The thread's goal.
pub struct Goals {
    thread_id: String,
    state: Mutex<State>,
}

impl Goals {
    pub fn new(thread_id: &str) -> Goals {
        Goals { thread_id: thread_id.to_string(), state: Mutex::new(State::default()) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("goal lock")
    }

    /// A response of the model arrived whole, with this usage; its tool calls have not run yet.
    pub fn response_received(&self, total_tokens: u64) {
        self.state().session_tokens += total_tokens as i64;
    }

    /// The turn ended: the goal's usage is accounted.
    pub fn turn_done(&self) {
        self.state().account();
    }

    /// Runs one of the goal tools; returns the items answering it.
    pub fn call(&self, call: &ToolCall, pack: &Pack) -> Vec<Value> {
        let result = match call.name.as_str() {
            "get_goal" => Ok(response(self.state().goal.clone(), None)),
            "create_goal" => self.create(&call.payload),
            _ => self.update(&call.payload, pack),
        };
        match result {
            Ok(answer) => {
                let objective = (call.name == "create_goal")
                    .then(|| answer["goal"]["objective"].as_str().map(str::to_string))
                    .flatten();
                let mut out = vec![call.output(super::ToolOutput::Text(answer.to_string()))];
                // Upstream follows a new goal with its objective, as an item of the agent namespace.
                if let Some(objective) = objective {
                    out.push(json!({
                        "type": "function_call_output",
                        "id": items::new_id("fco"),
                        "name": "goal_objective",
                        "namespace": "agent",
                        "output": objective,
                    }));
                }
                out
            }
            Err(message) => call.text(message),
        }
    }

    fn create(&self, arguments: &str) -> Result<Value, String> {
        let args: CreateArgs = serde_json::from_str(arguments).map_err(|e| e.to_string())?;
        let objective = args.objective.trim();
        if objective.is_empty() {
            return Err("goal objective must not be empty".into());
        }
        if objective.chars().count() > MAX_OBJECTIVE_CHARS {
            return Err(format!("goal objective must be at most {MAX_OBJECTIVE_CHARS} characters"));
        }
        if args.token_budget.is_some_and(|b| b <= 0) {
            return Err("goal budgets must be positive when provided".into());
        }
        let mut state = self.state();
        if state.goal.as_ref().is_some_and(|g| g.status != Status::Complete) {
            return Err("cannot create a new goal because this thread has an unfinished goal; complete the existing \
                        goal first"
                .into());
        }
        let now = jiff::Timestamp::now().as_second();
        let goal = Goal {
            thread_id: self.thread_id.clone(),
            objective: objective.to_string(),
            status: Status::Active,
            token_budget: args.token_budget,
            tokens_used: 0,
            time_used_seconds: 0,
            created_at: now,
            updated_at: now,
            started: Some(Instant::now()),
        };
        state.goal = Some(goal.clone());
        state.accounted_tokens = state.session_tokens;
        Ok(response(Some(goal), None))
    }

    fn update(&self, arguments: &str, pack: &Pack) -> Result<Value, String> {
        let args: UpdateArgs = serde_json::from_str(arguments).map_err(|e| e.to_string())?;
        if !matches!(args.status, Status::Complete | Status::Blocked) {
            return Err("update_goal can only mark the existing goal complete or blocked; pause, resume, \
                        budget-limited, and usage-limited status changes are controlled by the user or system"
                .into());
        }
        let mut state = self.state();
        state.account();
        let goal = state.goal.as_mut().ok_or("cannot update goal because this thread has no goal")?;
        goal.status = args.status;
        goal.updated_at = jiff::Timestamp::now().as_second();
        let goal = goal.clone();
        // The report is recorded text: without it in the pack, none is given.
        let report = (goal.status == Status::Complete && (goal.token_budget.is_some() || goal.time_used_seconds > 0))
            .then(|| pack.text(COMPLETION_REPORT_KEY))
            .flatten();
        Ok(response(Some(goal), report))
    }
}

fn response(goal: Option<Goal>, completion_budget_report: Option<&str>) -> Value {
    let remaining = goal.as_ref().and_then(|g| g.token_budget.map(|b| (b - g.tokens_used).max(0)));
    json!({"goal": goal, "remainingTokens": remaining, "completionBudgetReport": completion_budget_report})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::CallKind;

    fn call(name: &str, payload: &str) -> ToolCall {
        ToolCall { call_id: "c".into(), name: name.into(), kind: CallKind::Function, payload: payload.into() }
    }

    fn output(items: &[Value]) -> Value {
        serde_json::from_str(items[0]["output"].as_str().unwrap()).unwrap_or_else(|_| items[0]["output"].clone())
    }

    #[test]
    fn a_goal_is_created_counted_and_completed() {
        let pack = rcodex_prompt_pack::embedded();
        let goals = Goals::new("thread-1");
        let none = goals.call(&call("get_goal", "{}"), pack);
        assert_eq!(output(&none), json!({"goal": null, "remainingTokens": null, "completionBudgetReport": null}));

        goals.response_received(100);
        let created = goals.call(&call("create_goal", r#"{"objective":"  Ship it "}"#), pack);
        assert_eq!(created.len(), 2);
        assert_eq!(output(&created)["goal"]["objective"], "Ship it");
        assert_eq!(output(&created)["goal"]["status"], "active");
        assert_eq!(output(&created)["goal"]["threadId"], "thread-1");
        assert_eq!(created[1]["name"], "goal_objective");
        assert_eq!(created[1]["output"], "Ship it");

        goals.response_received(100);
        assert_eq!(output(&goals.call(&call("get_goal", "{}"), pack))["goal"]["tokensUsed"], 0, "not accounted yet");
        goals.response_received(100);
        let done = goals.call(&call("update_goal", r#"{"status":"complete"}"#), pack);
        assert_eq!(output(&done)["goal"]["tokensUsed"], 200, "the responses after the one that made the goal");
        goals.response_received(100);
        goals.turn_done();
        assert_eq!(output(&goals.call(&call("get_goal", "{}"), pack))["goal"]["tokensUsed"], 200, "complete: no more");
        assert_eq!(output(&done)["goal"]["status"], "complete");
        assert_eq!(done.len(), 1);
    }

    #[test]
    fn failures_are_worded_as_upstream_words_them() {
        let pack = rcodex_prompt_pack::embedded();
        let goals = Goals::new("t");
        let text = |name: &str, payload: &str| goals.call(&call(name, payload), pack)[0]["output"].clone();
        assert_eq!(
            text("update_goal", r#"{"status":"complete"}"#),
            "cannot update goal because this thread has no goal"
        );
        assert_eq!(text("create_goal", "{}"), "missing field `objective` at line 1 column 2");
        assert_eq!(text("create_goal", r#"{"objective":" "}"#), "goal objective must not be empty");
        assert_eq!(
            text("create_goal", r#"{"objective":"x","token_budget":0}"#),
            "goal budgets must be positive when provided"
        );
        text("create_goal", r#"{"objective":"first","token_budget":150}"#);
        assert!(text("create_goal", r#"{"objective":"second"}"#).as_str().unwrap().contains("unfinished goal"));
        assert!(text("update_goal", r#"{"status":"paused"}"#).as_str().unwrap().starts_with("update_goal can only"));

        goals.response_received(200);
        goals.turn_done();
        let limited: Value = serde_json::from_str(text("get_goal", "{}").as_str().unwrap()).unwrap();
        assert_eq!(limited["goal"]["status"], "budgetLimited");
        assert_eq!(limited["remainingTokens"], 0);
    }
}
