//! The data of upstream's `command_execution` items (`codex exec --json`).

use std::path::PathBuf;
use std::time::Duration;

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

/// A command started (`item.started`) or ended (`item.completed`), for the tool call `call_id`; or, from a manager
/// that streams output ([`crate::ExecManager::stream_output`]), a piece of its output (`output_delta`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecEvent {
    pub call_id: String,
    pub item: CommandExecution,
    /// The command's working directory.
    pub cwd: PathBuf,
    /// Its process id in the manager: the session id it is kept under if it outlives its call.
    pub process_id: i32,
    /// How long it ran, at its end.
    pub duration: Option<Duration>,
    /// Output as it arrived (the item is then the running command's): invalid UTF-8 replaced, a character cut
    /// between two reads kept whole for the next piece.
    pub output_delta: Option<String>,
}

/// What every event of one command shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommandInfo {
    pub call_id: String,
    pub command: String,
    pub cwd: PathBuf,
    pub process_id: i32,
}

impl ExecEvent {
    pub(crate) fn started(info: &CommandInfo) -> ExecEvent {
        ExecEvent {
            call_id: info.call_id.clone(),
            item: CommandExecution {
                command: info.command.clone(),
                aggregated_output: String::new(),
                exit_code: None,
                status: CommandStatus::InProgress,
            },
            cwd: info.cwd.clone(),
            process_id: info.process_id,
            duration: None,
            output_delta: None,
        }
    }

    /// Status `completed` for exit code 0, `failed` otherwise. Upstream gives -1 to commands that never ran or that
    /// it killed (evicted, terminated), with the spawn error as the output of the former.
    pub(crate) fn ended(
        info: &CommandInfo,
        aggregated_output: String,
        exit_code: i32,
        duration: Duration,
    ) -> ExecEvent {
        ExecEvent {
            item: CommandExecution {
                command: info.command.clone(),
                aggregated_output,
                exit_code: Some(exit_code),
                status: if exit_code == 0 { CommandStatus::Completed } else { CommandStatus::Failed },
            },
            duration: Some(duration),
            ..ExecEvent::started(info)
        }
    }

    pub(crate) fn output(info: &CommandInfo, delta: String) -> ExecEvent {
        ExecEvent { output_delta: Some(delta), ..ExecEvent::started(info) }
    }

    /// `true` for the end of a command (`item.completed`), `false` for its start (`item.started`) and its output.
    pub fn is_end(&self) -> bool {
        self.item.status != CommandStatus::InProgress
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(command: &str) -> CommandInfo {
        CommandInfo { call_id: "c".into(), command: command.into(), cwd: "/w".into(), process_id: 1000 }
    }

    #[test]
    fn serializes_in_upstream_shape() {
        let started = serde_json::to_string(&ExecEvent::started(&info("/bin/bash -lc true")).item).unwrap();
        assert_eq!(
            started,
            r#"{"command":"/bin/bash -lc true","aggregated_output":"","exit_code":null,"status":"in_progress"}"#
        );
        let failed = ExecEvent::ended(&info("x"), "oops\n".into(), 3, Duration::ZERO);
        assert_eq!(
            serde_json::to_string(&failed.item).unwrap(),
            r#"{"command":"x","aggregated_output":"oops\n","exit_code":3,"status":"failed"}"#
        );
        assert!(failed.is_end() && !ExecEvent::started(&info("x")).is_end());
        assert!(!ExecEvent::output(&info("x"), "out".into()).is_end());
        assert_eq!(
            ExecEvent::ended(&info("x"), String::new(), 0, Duration::ZERO).item.status,
            CommandStatus::Completed
        );
    }
}
