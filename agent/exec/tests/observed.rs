//! Replays every case recorded from upstream Codex 0.169.0 (tests/observed/cases) through the engine: the same calls,
//! in the same steps and turns, must give the same model-visible texts and `command_execution` events.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcodex_exec::tool::{self, ToolContext};
use rcodex_exec::{EXEC_ENV_OVERRIDES, ExecEvent, ExecManager, Shell, ShellKind};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/observed/cases")
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(cases_dir().join(format!("{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// What the recorder gave upstream: a cleared environment with these variables (docs/recording.md), plus upstream's
/// own overrides. The agent core's `CODEX_*` variables are left out: no case depends on them.
fn environment(home: &Path) -> HashMap<String, String> {
    let mut env: HashMap<String, String> =
        [("PATH", "/usr/bin:/bin"), ("TZ", "UTC"), ("SHELL", "/bin/bash"), ("USER", "parity"), ("LOGNAME", "parity")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    env.insert("HOME".into(), home.display().to_string());
    env.extend(EXEC_ENV_OVERRIDES.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

/// Marks the volatile parts of a model-visible text as tests/observed/extract.py does.
struct Normalizer {
    workspace: String,
    home: String,
    /// Engine session id -> placeholder, numbered by first appearance.
    sessions: HashMap<String, String>,
}

impl Normalizer {
    fn output(&mut self, text: &str) -> String {
        let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
        for line in lines.iter_mut() {
            if line == "Output:" {
                break;
            }
            if let Some(id) = line.strip_prefix("Chunk ID: ")
                && id.len() == 6
                && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                *line = "Chunk ID: {CHUNK}".into();
            } else if let Some(secs) = line.strip_prefix("Wall time: ").and_then(|rest| rest.strip_suffix(" seconds"))
                && secs.split_once('.').is_some_and(|(int, frac)| {
                    !int.is_empty() && int.bytes().all(|b| b.is_ascii_digit()) && frac.len() == 4
                })
            {
                *line = "Wall time: {WALL} seconds".into();
            } else if let Some(id) = line.strip_prefix("Process running with session ID ") {
                let next = format!("{{SESSION_{}}}", self.sessions.len() + 1);
                let name = self.sessions.entry(id.to_string()).or_insert(next).clone();
                *line = format!("Process running with session ID {name}");
            } else if let Some(id) = line.strip_prefix("write_stdin failed: Unknown process id ")
                && let Some(name) = self.sessions.get(id)
            {
                *line = format!("write_stdin failed: Unknown process id {name}");
            }
        }
        self.paths(&lines.join("\n"))
    }

    fn paths(&self, text: &str) -> String {
        text.replace(&self.workspace, "{WORKSPACE}").replace(&self.home, "{HOME}")
    }

    /// The arguments with placeholders replaced by the engine's session ids.
    fn arguments(&self, arguments: &str) -> String {
        self.sessions.iter().fold(arguments.to_string(), |text, (id, name)| text.replace(name, id))
    }
}

/// A recorded text: inline, or a digest with its length and ends (tests/observed/README.md).
fn matches(expected: &Value, actual: &str) -> bool {
    match expected {
        Value::String(text) => text == actual,
        Value::Object(digest) => {
            let hash: String = Sha256::digest(actual.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
            digest["sha256"] == hash.as_str() && digest["len"] == actual.chars().count()
        }
        other => panic!("unexpected recorded text {other}"),
    }
}

/// An event as text, its keys sorted: the order of keys is not compared (and depends on whether serde_json keeps
/// insertion order, which a workspace-wide build turns on).
fn event_key(event: &Value) -> String {
    let sorted: std::collections::BTreeMap<&String, &Value> = event.as_object().into_iter().flatten().collect();
    serde_json::to_string(&sorted).unwrap()
}

async fn replay(name: &str) {
    let case = load(name);
    let engine = case.get("engine").cloned().unwrap_or(Value::Null);
    let overrides = engine.get("outputs").cloned().unwrap_or(Value::Null);
    let temp = tempfile::tempdir().unwrap();
    // A run directory as long as upstream's, so that token counts of outputs naming it agree.
    let run_dir_len = case["run_dir_len"].as_u64().map_or(0, |len| len as usize);
    let padding = run_dir_len.saturating_sub(temp.path().as_os_str().len() + 1).max(1);
    let root = temp.path().join("r".repeat(padding));
    let (workspace, home) = (root.join("workspace"), root.join("home"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&workspace).unwrap();
    for (path, text) in case["workspace_files"].as_object().unwrap() {
        let path = workspace.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text.as_str().unwrap()).unwrap();
    }
    let mut context = ToolContext::new(&workspace, environment(&home));
    // The recording's user: bash, found with the recorder's PATH.
    context.user_shell = Shell { kind: ShellKind::Bash, path: PathBuf::from("/bin/bash") };
    context.search_path = Some("/usr/bin:/bin".into());
    let context = Arc::new(context);
    let mut normalizer = Normalizer {
        workspace: workspace.display().to_string(),
        home: home.display().to_string(),
        sessions: HashMap::new(),
    };
    let mut failures = Vec::new();

    for (turn_index, turn) in case["turns"].as_array().unwrap().iter().enumerate() {
        let (events, mut received) = mpsc::unbounded_channel();
        let manager = Arc::new(ExecManager::with_events(events));
        for step in turn["steps"].as_array().unwrap() {
            if let Some(delay) = step.get("delay_ms").and_then(Value::as_u64) {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            // Upstream runs a response's calls at once.
            let calls = step["calls"].as_array().unwrap();
            let tasks: Vec<_> = calls
                .iter()
                .map(|call| {
                    let (manager, context) = (manager.clone(), context.clone());
                    let arguments = normalizer.arguments(call["arguments"].as_str().unwrap());
                    let (name, call_id) =
                        (call["name"].as_str().unwrap().to_string(), call["call_id"].as_str().unwrap().to_string());
                    tokio::spawn(async move {
                        let result = match name.as_str() {
                            "exec_command" => tool::exec_command(&manager, &arguments, &context, &call_id).await,
                            "write_stdin" => tool::write_stdin(&manager, &arguments, &context).await,
                            other => panic!("unexpected tool {other}"),
                        };
                        result.map_or_else(|err| err.0, |output| output.to_model_text())
                    })
                })
                .collect();
            for (call, task) in calls.iter().zip(tasks) {
                let actual = normalizer.output(&task.await.unwrap());
                let call_id = call["call_id"].as_str().unwrap();
                let expected = overrides.get(call_id).unwrap_or(&call["output"]);
                if !matches(expected, &actual) {
                    failures.push(format!("{name} {call_id}:\n  expected {expected}\n  actual   {actual:?}"));
                }
            }
        }
        // The turn ends with its last call: events after it never reach upstream's output, whose process exits and
        // kills the sessions left (so must the replay, before the next turn).
        let mut actual = Vec::new();
        while let Ok(ExecEvent { item, .. }) = received.try_recv() {
            let kind = if item.exit_code.is_some() { "item.completed" } else { "item.started" };
            let mut event = serde_json::to_value(&item).unwrap();
            event["type"] = kind.into();
            event["command"] = normalizer.paths(item.command.as_str()).into();
            event["aggregated_output"] = normalizer.paths(&item.aggregated_output).into();
            actual.push(event);
        }
        manager.terminate_all().await;
        let expected_events = engine.get("events").and_then(|events| events.get(turn_index)).unwrap_or(&turn["events"]);
        let mut expected: Vec<_> = expected_events.as_array().unwrap().iter().collect();
        // Events of calls run at once come in any order: compare them as multisets.
        let mut unmatched = Vec::new();
        for event in &actual {
            let position = expected.iter().position(|recorded| {
                let mut recorded = (*recorded).clone();
                let text_matches =
                    matches(&recorded["aggregated_output"], event["aggregated_output"].as_str().unwrap());
                recorded["aggregated_output"] = event["aggregated_output"].clone();
                text_matches && event_key(&recorded) == event_key(event)
            });
            match position {
                Some(position) => drop(expected.remove(position)),
                None => unmatched.push(event_key(event)),
            }
        }
        if !unmatched.is_empty() || !expected.is_empty() {
            failures.push(format!(
                "{name} turn {}: events not recorded: {unmatched:#?}\n  recorded events not produced: {expected:#?}",
                turn_index + 1
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

macro_rules! observed {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                tokio::time::timeout(Duration::from_secs(90), replay($name)).await.expect("the case finishes in time");
            }
        )*

        #[test]
        fn every_case_is_replayed() {
            let mut listed = vec![$($name),*];
            listed.sort_unstable();
            let mut cases: Vec<String> = std::fs::read_dir(cases_dir())
                .unwrap()
                .map(|entry| entry.unwrap().path().file_stem().unwrap().to_string_lossy().into_owned())
                .filter(|name| load(name).get("engine").and_then(|engine| engine.get("skip")).is_none())
                .collect();
            cases.sort_unstable();
            assert_eq!(listed, cases);
        }
    };
}

observed! {
    big_output => "big-output",
    cleanup => "cleanup",
    exit_status => "exit-status",
    invalid_args => "invalid-args",
    many_sessions => "many-sessions",
    non_utf8 => "non-utf8",
    running_pipe => "running-pipe",
    running_tty => "running-tty",
    shell_login => "shell-login",
    stdin_closed => "stdin-closed",
    truncation => "truncation",
    tty_poll => "tty-poll",
    unknown_session => "unknown-session",
    workdir => "workdir",
    write_stdin_after_exit => "write-stdin-after-exit",
    yield_clamp => "yield-clamp",
}

/// The environment is the agent core's to build; what the engine contributes is the overrides, which upstream's
/// commands see with the same values.
#[test]
fn upstream_commands_see_the_exec_env_overrides() {
    let case = load("environment");
    let output = case["turns"][0]["steps"][0]["calls"][0]["output"].as_str().unwrap();
    for (key, value) in EXEC_ENV_OVERRIDES {
        assert!(output.contains(&format!("\n{key}={value}\n")), "{key}={value} in {output}");
    }
}
