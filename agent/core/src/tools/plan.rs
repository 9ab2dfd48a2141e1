//! `update_plan`: the model's plan for the turn, shown as a `todo_list` item: started by the first update, updated
//! by the next ones, completed when the turn ends.

use std::sync::Mutex;

use serde::Deserialize;

use crate::events::{Event, EventSink, Item, ItemDetails, TodoItem};

#[derive(Deserialize)]
struct Args {
    #[serde(default)]
    #[allow(dead_code)] // part of the tool's arguments; only the steps are shown
    explanation: Option<String>,
    plan: Vec<Step>,
}

#[derive(Deserialize)]
struct Step {
    step: String,
    status: StepStatus,
}

#[derive(Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum StepStatus {
    Pending,
    InProgress,
    Completed,
}

/// The plan of the running turn, if the model made one.
#[derive(Default)]
pub struct Plan {
    shown: Mutex<Option<Item>>,
}

impl Plan {
    /// Takes a new plan: the model's answer, or the text of its error.
    pub fn update(&self, arguments: &str, events: &EventSink) -> Result<String, String> {
        let args: Args =
            serde_json::from_str(arguments).map_err(|e| format!("failed to parse function arguments: {e}"))?;
        let items = args
            .plan
            .into_iter()
            .map(|s| TodoItem { text: s.step, completed: s.status == StepStatus::Completed })
            .collect();
        let mut shown = self.shown.lock().expect("plan lock");
        let event = match shown.as_mut() {
            Some(item) => {
                item.details = ItemDetails::TodoList { items };
                Event::ItemUpdated { item: item.clone() }
            }
            None => {
                let item = Item::new(events.item_id(), ItemDetails::TodoList { items });
                *shown = Some(item.clone());
                Event::ItemStarted { item }
            }
        };
        events.emit(event);
        Ok("Plan updated".to_string())
    }

    /// Ends the turn's plan, if there is one.
    pub fn complete(&self, events: &EventSink) {
        if let Some(item) = self.shown.lock().expect("plan lock").take() {
            events.emit(Event::ItemCompleted { item });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_plan_is_started_updated_and_completed_as_one_todo_list() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let events = EventSink::new(move |e| sink.lock().unwrap().push(serde_json::to_value(&e).unwrap()));
        let plan = Plan::default();
        let first = r#"{"plan":[{"step":"read","status":"in_progress"},{"step":"write","status":"pending"}]}"#;
        assert_eq!(plan.update(first, &events).unwrap(), "Plan updated");
        let second = r#"{"explanation":"read it","plan":[{"step":"read","status":"completed"},{"step":"write","status":"in_progress"}]}"#;
        plan.update(second, &events).unwrap();
        plan.complete(&events);
        plan.complete(&events);

        let seen = seen.lock().unwrap();
        let kinds: Vec<&str> = seen.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["item.started", "item.updated", "item.completed"]);
        assert!(seen.iter().all(|e| e["item"]["id"] == "item_0" && e["item"]["type"] == "todo_list"));
        assert_eq!(
            seen[2]["item"]["items"],
            serde_json::json!([{"text": "read", "completed": true}, {"text": "write", "completed": false}])
        );
        assert_eq!(
            plan.update(r#"{"plan":[{"step":"x","status":"done"}]}"#, &events).unwrap_err(),
            "failed to parse function arguments: unknown variant `done`, expected one of `pending`, `in_progress`, `completed` at line 1 column 36"
        );
    }
}
