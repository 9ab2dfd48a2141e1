//! `notify` in config.toml: after each turn, upstream runs the configured program with one more argument, a JSON
//! object about the turn (`agent-turn-complete`: the thread, the turn, the working directory, the client, the
//! user's messages and the model's last message), and does not wait for it (scenario config-notify).

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// What one finished turn tells the program.
pub struct TurnComplete<'a> {
    pub thread_id: &'a str,
    pub turn_id: &'a str,
    pub cwd: &'a Path,
    /// Who drives the thread (the originator: `codex_exec` for exec, an app server's client name).
    pub client: Option<String>,
    pub input_messages: Vec<String>,
    pub last_assistant_message: Option<String>,
}

impl TurnComplete<'_> {
    /// The argument, with upstream's keys in upstream's order.
    pub fn json(&self) -> Value {
        let mut object = json!({
            "type": "agent-turn-complete",
            "thread-id": self.thread_id,
            "turn-id": self.turn_id,
            "cwd": self.cwd.display().to_string(),
        });
        if let Some(client) = &self.client {
            object["client"] = json!(client);
        }
        object["input-messages"] = json!(self.input_messages);
        object["last-assistant-message"] = json!(self.last_assistant_message);
        object
    }
}

/// The threads reaping the programs `notify` started.
static RUNNING: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>> = std::sync::Mutex::new(Vec::new());

/// Starts `argv` with the turn's JSON as its last argument, its standard streams closed; not waited for (a thread
/// reaps it). A program that cannot start is left out, as upstream leaves it.
pub fn notify(argv: &[String], turn: &TurnComplete) {
    let Some((program, args)) = argv.split_first() else { return };
    let child = Command::new(program)
        .args(args)
        .arg(turn.json().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if let Ok(mut child) = child {
        let reaper = std::thread::spawn(move || drop(child.wait()));
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|r| !r.is_finished());
        running.push(reaper);
    }
}

/// Waits up to `limit` for the programs `notify` started to end: a process about to exit (`exec`) lets them finish
/// first, so that what started them (a recorder's process group, a CI job) does not end them half done.
pub fn wait_for_running(limit: std::time::Duration) {
    let deadline = std::time::Instant::now() + limit;
    let running = std::mem::take(&mut *RUNNING.lock().unwrap_or_else(|e| e.into_inner()));
    for reaper in running {
        while !reaper.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(client: Option<&str>, last: Option<&str>) -> TurnComplete<'static> {
        TurnComplete {
            thread_id: "t",
            turn_id: "u",
            cwd: Path::new("/w"),
            client: client.map(str::to_string),
            input_messages: vec!["Say hello.".into()],
            last_assistant_message: last.map(str::to_string),
        }
    }

    /// As config-notify recorded it: `{"type":"agent-turn-complete","thread-id":...,"turn-id":...,"cwd":...,
    /// "client":"codex_exec","input-messages":[...],"last-assistant-message":...}`.
    #[test]
    fn the_json_has_upstreams_keys_in_upstreams_order() {
        let text = turn(Some("codex_exec"), Some("Hello there.")).json().to_string();
        assert_eq!(
            text,
            r#"{"type":"agent-turn-complete","thread-id":"t","turn-id":"u","cwd":"/w","client":"codex_exec","input-messages":["Say hello."],"last-assistant-message":"Hello there."}"#
        );
        let text = turn(None, None).json().to_string();
        assert_eq!(
            text,
            r#"{"type":"agent-turn-complete","thread-id":"t","turn-id":"u","cwd":"/w","input-messages":["Say hello."],"last-assistant-message":null}"#
        );
    }

    #[test]
    fn the_program_gets_the_json_as_its_last_argument() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.json");
        let script = format!("printf '%s|%s' \"$1\" \"$2\" > '{}'", out.display());
        let argv = ["sh", "-c", &script, "sh", "first"].map(String::from);
        notify(&argv, &turn(Some("codex_exec"), Some("Hi.")));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !std::fs::read_to_string(&out).is_ok_and(|t| t.ends_with('}')) {
            assert!(std::time::Instant::now() < deadline, "the program did not write its argument");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let text = std::fs::read_to_string(&out).unwrap();
        let (first, json) = text.split_once('|').unwrap();
        assert_eq!(first, "first");
        assert_eq!(serde_json::from_str::<Value>(json).unwrap()["last-assistant-message"], "Hi.");
        // A program that does not exist is left out quietly.
        notify(&["/nonexistent/program".to_string()], &turn(None, None));
    }
}
