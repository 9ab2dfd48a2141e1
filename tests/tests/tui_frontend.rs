//! The recorder's tui frontend driving a real program in a pseudo-terminal, against its scripted server, without
//! upstream: a tiny interactive agent in bash (a prompt, a line read from the terminal, a model request over
//! bash's /dev/tcp, the answer printed) typed into, waited on, steered at a hold of the script, quit and started
//! again with `resume --last`; and a run that fails naming the step.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parity_capture::Recording;
use parity_recorder::{Agent, RecordOptions, RunRecord, Scenario, record};
use serde_json::Value;

/// Prints how it was started and `ready>`, then for each line typed sends a model request with it and prints the
/// answer's text deltas joined (`answer: ...`). Ctrl-D (end of input) ends it.
const TINY_AGENT: &str = r#"#!/bin/bash
url=${PARITY_BASE_URL#http://}
hostport=${url%%/*}
echo "started with: ${*:-nothing} (TERM=$TERM)"
while true; do
  printf 'ready> '
  IFS= read -r line || { echo; echo "bye"; exit 0; }
  body='{"model":"m","stream":true,"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"'"$line"'"}]}]}'
  exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}"
  printf 'POST /v1/responses HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    "$hostport" "${#body}" "$body" >&3
  answer=$(grep -o '"delta":"[^"]*"' <&3 | sed 's/^"delta":"//; s/"$//' | tr -d '\n')
  exec 3<&-
  echo "answer: $answer"
done
"#;

struct Run {
    _tmp: tempfile::TempDir,
    out: PathBuf,
    record: RunRecord,
}

impl Run {
    fn screen(&self, step: usize) -> String {
        std::fs::read_to_string(self.out.join(format!("screens/{step:03}.txt"))).unwrap()
    }

    fn actions(&self, name: &str) -> Vec<Value> {
        let text = std::fs::read_to_string(self.out.join("frontend.jsonl")).unwrap();
        text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).filter(|l| l["action"] == name).collect()
    }
}

async fn run(scenario: &str) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("tiny-agent.sh");
    std::fs::write(&script, TINY_AGENT).unwrap();
    let agent = Agent::parse(&format!("/bin/bash {} {{resume_args}}", script.display()), None, None).unwrap();
    let scenario = Scenario::parse(scenario, Path::new("/virtual/scenarios/tiny-tui.toml")).unwrap();
    let out = tmp.path().join("out");
    let options =
        RecordOptions { out: out.clone(), work_root: tmp.path().join("work"), keep_work: false, clean: false };
    let record = tokio::time::timeout(Duration::from_secs(60), record(&scenario, &agent, &options))
        .await
        .expect("a run is bounded in time")
        .unwrap();
    Run { _tmp: tmp, out, record }
}

#[tokio::test]
async fn keystrokes_waits_a_hold_tied_input_and_a_restart_are_recorded_screen_by_screen() {
    let started = Instant::now();
    let run = run(r#"
[agent]
frontend = "tui"
timeout_secs = 20

[tui]
size = { cols = 80, rows = 24 }

[[tui.steps]]
wait_screen = "ready>"

[[tui.steps]]
type = "first question"
key = "enter"

[[tui.steps]]
at = "held"
type = "second question"
key = "enter"

[[tui.steps]]
wait_screen = "answer: The second answer."

[[tui.steps]]
key = "ctrl-d"

[[tui.steps]]
wait_exit = { timeout_ms = 5000 }

[[tui.steps]]
start = ["resume", "--last"]

[[tui.steps]]
wait_screen = { text = "started with: resume --last", timeout_ms = 5000 }

[[script.steps]]
expect = { last_input_contains = "first question" }
output = [{ message = "The first answer." }, { hold = { name = "held", timeout_ms = 10000 } }]

[[script.steps]]
expect = { last_input_contains = "second question" }
output = [{ message = "The second answer." }]
"#)
    .await;
    assert!(run.record.succeeded(), "{:?}", run.record.failure());
    assert_eq!(run.record.frontend, Some(parity_recorder::Frontend::Tui));
    assert_eq!(run.record.transcript.as_deref(), Some("frontend.jsonl"));
    // Two processes: the first, and the one started again with `resume --last`.
    assert_eq!(run.record.turns.len(), 2, "{:#?}", run.record.turns);
    assert_eq!(run.record.turns[0].exit_code, Some(0));
    assert!(run.record.turns[1].args.last().is_some_and(|a| a.contains("'resume' '--last'")), "{:?}", run.record.turns);

    // The screens, step by step: the terminal as the program drew it, with xterm-256color.
    assert!(run.screen(1).contains("started with: nothing (TERM=xterm-256color)"), "{}", run.screen(1));
    assert!(run.screen(1).ends_with("ready>\n"), "trailing spaces are cut: {:?}", run.screen(1));
    // Typed while the first answer was held: the terminal echoed it before the program read it.
    let steered = run.screen(3);
    assert!(steered.contains("answer: The first answer.") && steered.contains("second question"), "{steered}");
    assert!(run.screen(4).contains("answer: The second answer."), "{}", run.screen(4));
    assert!(run.screen(6).contains("bye"), "{}", run.screen(6));
    assert!(run.screen(8).starts_with("started with: resume --last"), "a new terminal: {}", run.screen(8));
    // The program's own bytes, escape sequences included, per process.
    let raw = std::fs::read_to_string(run.out.join("turn-1/stdout.txt")).unwrap();
    assert!(raw.contains("answer: The first answer."), "{raw}");

    // The transcript: the hold reached, the input, the release.
    let holds = run.actions("hold");
    assert_eq!(holds.len(), 1, "{holds:?}");
    assert_eq!((holds[0]["at"].as_str(), holds[0]["request"]["seq"].as_u64()), (Some("held"), Some(1)));
    let releases = run.actions("release");
    assert_eq!((releases[0]["at"].as_str(), releases[0]["released"].as_u64()), (Some("held"), Some(1)));
    assert_eq!(run.actions("start").len(), 2);
    assert_eq!(run.actions("screen").len(), 9, "one screen per step, and the first one");
    let steps = run.actions("step");
    assert_eq!(steps[2]["text"], "second question");
    assert_eq!(steps[2]["keys"][0], "enter");

    // The server got both requests, in one session (the tiny agent sends no session header).
    let recording = Recording::load(&run.out.join("captures")).unwrap();
    assert_eq!(recording.len(), 2);
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_screen_that_never_shows_the_text_fails_the_run_naming_the_step_and_ends_the_program() {
    let started = Instant::now();
    let run = run(r#"
[agent]
frontend = "tui"
timeout_secs = 20

[[tui.steps]]
wait_screen = "ready>"

[[tui.steps]]
wait_screen = { text = "something else", timeout_ms = 300 }

[[script.steps]]
output = [{ message = "unused" }]
"#)
    .await;
    let error = run.record.failure().expect("the run failed");
    assert!(
        error
            .contains("scenario tiny-tui, step 2 (wait_screen \"something else\"): the screen did not show it in time"),
        "{error}"
    );
    assert!(run.record.turns[0].timed_out);
    assert!(run.screen(2).contains("ready>"), "the screen at the failure is kept: {}", run.screen(2));
    assert_eq!(run.actions("failed").len(), 1);
    // The program, still reading its terminal, was ended with its process group.
    let exit = &run.actions("exit")[0];
    assert!(exit["code"].is_number() || exit["signal"].is_string(), "{exit}");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
}
