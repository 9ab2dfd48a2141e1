//! The recorder running the repo's own fake agent: what it keeps, isolation, timeouts, clean-up.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parity_capture::Recording;
use parity_recorder::isolate::AGENT_PATH;
use parity_recorder::{Agent, RecordError, RecordOptions, Scenario, record};

fn fake_agent() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_parity-fake-agent"))
}

fn scenario(text: &str) -> Scenario {
    Scenario::parse(text, Path::new("/virtual/scenarios/demo.toml")).unwrap()
}

struct Dirs {
    _tmp: tempfile::TempDir,
    out: PathBuf,
    work: PathBuf,
}

fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().unwrap();
    Dirs { out: tmp.path().join("out"), work: tmp.path().join("work"), _tmp: tmp }
}

fn options(d: &Dirs) -> RecordOptions {
    RecordOptions { out: d.out.clone(), work_root: d.work.clone(), keep_work: false, clean: false }
}

const TOOL_SCENARIO: &str = r#"
prompt = "list the files"
follow_ups = ["and now?"]
[workspace]
files = { "hello.txt" = "hi" }
[[script.steps]]
output = [{ function_call = { name = "exec_command", arguments = { cmd = "ls" }, call_id = "c1" } }]
[[script.steps]]
expect = { function_call_output = "c1" }
output = [{ message = "There is hello.txt." }]
[[script.steps]]
expect = { last_input_contains = "and now?" }
output = [{ message = "Still hello.txt." }]
"#;

#[tokio::test]
async fn a_recording_keeps_captures_outputs_events_and_statuses() {
    let d = dirs();
    let agent = Agent::Codex { bin: fake_agent() };
    let run = record(&scenario(TOOL_SCENARIO), &agent, &options(&d)).await.unwrap();

    assert!(run.succeeded(), "{run:#?}");
    assert_eq!(run.turns.len(), 2);
    assert_eq!(run.turns[1].args[..3], ["exec", "resume", "--last"]);
    assert_eq!(run.requests, 3);
    let recording = Recording::load(&d.out.join("captures")).unwrap();
    assert_eq!(recording.sessions.len(), 1, "the follow-up resumed the same session");
    let captures: Vec<_> = recording.exchanges().map(|e| &e.capture).collect();
    assert_eq!(
        captures[1].request.function_call_output_text("c1").as_deref(),
        Some("hello.txt\n"),
        "ran in the workspace"
    );
    assert!(captures.iter().all(|c| c.response.status == 200), "every expectation held");

    let on_disk = parity_recorder::RunRecord::load(&d.out.join("run.json")).unwrap();
    assert_eq!(on_disk, run);
    let text = std::fs::read_to_string(d.out.join("run.json")).unwrap();
    for field in ["frontend", "transcript", "thread_id", "turn_id", "\"status\"", "\"error\"", "\"action\""] {
        assert!(!text.contains(field), "an exec run.json keeps its format, without {field}: {text}");
    }
    assert!(!d.out.join("frontend.jsonl").exists(), "exec keeps no transcript");
    let events = std::fs::read_to_string(d.out.join(run.turns[0].events.as_ref().unwrap())).unwrap();
    assert!(events.lines().any(|l| l.contains("\"agent_message\"") && l.contains("There is hello.txt.")), "{events}");
    assert_eq!(std::fs::read_dir(&d.work).unwrap().count(), 0, "run directories are removed");
}

#[tokio::test]
async fn nothing_of_the_host_reaches_the_agent() {
    let d = dirs();
    let agent = Agent::parse(&format!("{} exec --json {{prompt}}", fake_agent().display()), None, None).unwrap();
    record(&scenario(TOOL_SCENARIO.replace("follow_ups = [\"and now?\"]", "").as_str()), &agent, &options(&d))
        .await
        .unwrap();

    let recording = Recording::load(&d.out.join("captures")).unwrap();
    let first = &recording.exchanges().next().unwrap().capture.request;
    let report: serde_json::Value = serde_json::from_str(&first.message_texts("developer")[0]).unwrap();
    let env = report["env"].as_object().unwrap();
    assert_eq!(env["PATH"], AGENT_PATH);
    assert_eq!(env["TZ"], "UTC");
    // The test process runs with cargo's CARGO_* variables and the host's own: none may appear, only the recorder's.
    let mut names: Vec<&str> = env.keys().map(String::as_str).collect();
    names.sort();
    // PWD is set by /bin/sh, which runs command templates: the workspace, not something of the host.
    let mut expected = [
        "CODEX_HOME",
        "HOME",
        "LANG",
        "LC_ALL",
        "LOGNAME",
        "PARITY_API_KEY",
        "PARITY_BASE_URL",
        "PARITY_TURN",
        "PATH",
        "PWD",
        "SHELL",
        "TERM",
        "TZ",
        "USER",
    ];
    expected.sort();
    assert_eq!(names, expected, "the agent's environment is exactly the recorder's");
    let home = env["HOME"].as_str().unwrap();
    assert!(home.starts_with(d.work.to_str().unwrap()), "HOME is the run's own: {home}");
    assert!(report["cwd"].as_str().unwrap().ends_with("/workspace"));
    assert_eq!(env["PWD"], report["cwd"]);

    let host_home = std::env::var("HOME").unwrap();
    let host_path = std::env::var("PATH").unwrap();
    for exchange in recording.exchanges() {
        let text = std::fs::read_to_string(&exchange.path).unwrap();
        assert!(!text.contains(&host_path), "the host PATH is in {}", exchange.path.display());
        assert!(!text.contains(&format!("\"{host_home}\"")), "the host HOME is in {}", exchange.path.display());
    }
}

#[tokio::test]
async fn a_turn_that_runs_out_of_time_is_killed_and_said_so() {
    let d = dirs();
    let agent = Agent::Codex { bin: fake_agent() };
    let hang = scenario(
        "prompt = \"hang\"\nfollow_ups = [\"never sent\"]\n[agent]\ntimeout_secs = 1\n[[script.steps]]\noutput = [{ message = \"m\" }]\n",
    );
    let started = Instant::now();
    let run = record(&hang, &agent, &options(&d)).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
    assert_eq!(run.turns.len(), 1, "no turn follows a timed-out one");
    assert!(run.turns[0].timed_out && run.turns[0].exit_code.is_none());
    assert!(!run.succeeded());
}

#[tokio::test]
async fn whatever_the_agent_leaves_running_is_killed_with_it() {
    let d = dirs();
    let agent = Agent::Codex { bin: fake_agent() };
    let orphan = scenario("prompt = \"spawn-orphan\"\n[[script.steps]]\noutput = [{ message = \"m\" }]\n");
    let run = record(&orphan, &agent, &options(&d)).await.unwrap();
    let stdout = std::fs::read_to_string(d.out.join(&run.turns[0].stdout)).unwrap();
    let pid: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let proc = PathBuf::from(format!("/proc/{}", pid["orphan_pid"]));
    let deadline = Instant::now() + Duration::from_secs(5);
    // Gone, or a zombie waiting for init to reap it: either way no longer running.
    while proc.exists() && !std::fs::read_to_string(proc.join("stat")).unwrap_or_default().contains(") Z ") {
        assert!(Instant::now() < deadline, "the background process survived the run");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn a_used_output_directory_is_refused_unless_cleaned_and_a_missing_agent_is_named() {
    let d = dirs();
    let agent = Agent::Codex { bin: fake_agent() };
    let plain = scenario("prompt = \"hi\"\n[[script.steps]]\noutput = [{ message = \"m\" }]\n");
    record(&plain, &agent, &options(&d)).await.unwrap();
    let again = record(&plain, &agent, &options(&d)).await.unwrap_err();
    assert!(
        matches!(again, RecordError::Output(parity_recorder::output::OutputError::HoldsRecording { .. })),
        "{again}"
    );
    record(&plain, &agent, &RecordOptions { clean: true, ..options(&d) }).await.unwrap();
    assert_eq!(Recording::load(&d.out.join("captures")).unwrap().len(), 1, "the old captures were replaced");

    let missing = Agent::Codex { bin: "/nonexistent/codex".into() };
    let err = record(&plain, &missing, &RecordOptions { clean: true, ..options(&d) }).await.unwrap_err();
    assert!(err.to_string().contains("could not start the agent (/nonexistent/codex)"), "{err}");
}
