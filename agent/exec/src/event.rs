//! The data of upstream's `command_execution` items (`codex exec --json`).

use serde::Serialize;

/// Where a command stands, as `codex exec --json` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandStatus {
    InProgress,
    Completed,
    Failed,
}

/// The fields of a `command_execution` item after its `id` and `type`, in upstream's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandExecution {
    /// The argv as upstream shows it ([`crate::display_command`]).
    pub command: String,
    /// Everything the command printed (1 MiB at most, with the omission mark), invalid UTF-8 replaced; empty while
    /// it runs.
    pub aggregated_output: String,
    pub exit_code: Option<i32>,
    pub status: CommandStatus,
}

/// A command started (`item.started`) or ended (`item.completed`), for the tool call `call_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecEvent {
    pub call_id: String,
    pub item: CommandExecution,
}

impl ExecEvent {
    pub(crate) fn started(call_id: &str, command: &str) -> ExecEvent {
        ExecEvent {
            call_id: call_id.to_string(),
            item: CommandExecution {
                command: command.to_string(),
                aggregated_output: String::new(),
                exit_code: None,
                status: CommandStatus::InProgress,
            },
        }
    }

    /// Status `completed` for exit code 0, `failed` otherwise. Upstream gives -1 to commands that never ran or that
    /// it killed (evicted, terminated), with the spawn error as the output of the former.
    pub(crate) fn ended(call_id: &str, command: &str, aggregated_output: String, exit_code: i32) -> ExecEvent {
        ExecEvent {
            call_id: call_id.to_string(),
            item: CommandExecution {
                command: command.to_string(),
                aggregated_output,
                exit_code: Some(exit_code),
                status: if exit_code == 0 { CommandStatus::Completed } else { CommandStatus::Failed },
            },
        }
    }

    /// `true` for the end of a command (`item.completed`), `false` for its start (`item.started`).
    pub fn is_end(&self) -> bool {
        self.item.status != CommandStatus::InProgress
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_in_upstream_shape() {
        let started = serde_json::to_string(&ExecEvent::started("c", "/bin/bash -lc true").item).unwrap();
        assert_eq!(
            started,
            r#"{"command":"/bin/bash -lc true","aggregated_output":"","exit_code":null,"status":"in_progress"}"#
        );
        let failed = ExecEvent::ended("c", "x", "oops\n".into(), 3);
        assert_eq!(
            serde_json::to_string(&failed.item).unwrap(),
            r#"{"command":"x","aggregated_output":"oops\n","exit_code":3,"status":"failed"}"#
        );
        assert!(failed.is_end() && !ExecEvent::started("c", "x").is_end());
        assert_eq!(ExecEvent::ended("c", "x", String::new(), 0).item.status, CommandStatus::Completed);
    }
}
