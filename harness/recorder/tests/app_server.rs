//! The app-server frontend driving the repo's fake agent: turns, steer, interrupt, approvals, answers, resume, fork,
//! compaction, the transcript, and every way a run can fail, each in bounded time.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parity_capture::Recording;
use parity_recorder::{Agent, RecordOptions, RunRecord, Scenario, record};
use serde_json::Value;

fn fake_agent() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_parity-fake-agent"))
}

/// The fake agent as a template, misbehaving as `--fail=WHAT` says.
fn failing_agent(what: &str) -> Agent {
    Agent::parse(&format!("{} {{frontend}} --fail={what}", fake_agent().display()), None, None).unwrap()
}

struct Run {
    _tmp: tempfile::TempDir,
    out: PathBuf,
    record: RunRecord,
    elapsed: Duration,
}

impl Run {
    fn transcript(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.out.join("frontend.jsonl")).unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    fn actions(&self, name: &str) -> Vec<Value> {
        self.transcript().into_iter().filter(|l| l["action"] == name).collect()
    }

    /// Messages of one side with this method.
    fn messages(&self, from: &str, method: &str) -> Vec<Value> {
        self.transcript()
            .into_iter()
            .filter(|l| l["from"] == from && l["message"]["method"] == method)
            .map(|l| l["message"].clone())
            .collect()
    }

    fn recording(&self) -> Recording {
        Recording::load(&self.out.join("captures")).unwrap()
    }

    fn error(&self) -> String {
        self.record.failure().unwrap_or_else(|| panic!("the run should have failed: {:#?}", self.record))
    }
}

async fn run_with(agent: &Agent, text: &str) -> Run {
    let scenario = Scenario::parse(text, Path::new("/virtual/scenarios/demo.toml")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let options =
        RecordOptions { out: out.clone(), work_root: tmp.path().join("work"), keep_work: false, clean: false };
    let started = Instant::now();
    let record = tokio::time::timeout(Duration::from_secs(30), record(&scenario, agent, &options))
        .await
        .expect("a run is bounded in time")
        .unwrap();
    assert_eq!(std::fs::read_dir(tmp.path().join("work")).unwrap().count(), 0, "run directories are removed");
    Run { out, record, elapsed: started.elapsed(), _tmp: tmp }
}

async fn run(text: &str) -> Run {
    run_with(&Agent::Codex { bin: fake_agent() }, text).await
}

const HEADER: &str = "[agent]\nfrontend = \"app-server\"\ntimeout_secs = 10\n";

#[tokio::test]
async fn a_thread_of_three_turns_is_one_process_one_session_and_a_whole_transcript() {
    let run = run(&format!(
        r#"prompt = "one"
follow_ups = ["two", "three"]
{HEADER}
[[script.steps]]
output = [{{ message = "First." }}]
[[script.steps]]
expect = {{ last_input_contains = "two", headers = {{ originator = "parity" }} }}
output = [{{ message = "Second." }}]
[[script.steps]]
expect = {{ last_input_contains = "three" }}
output = [{{ message = "Third." }}]
"#
    ))
    .await;
    assert!(run.record.succeeded(), "{:#?}", run.record);
    assert_eq!(run.record.turns.len(), 3);
    assert_eq!(run.record.transcript.as_deref(), Some("frontend.jsonl"));
    assert_eq!(run.record.frontend, Some(parity_recorder::Frontend::AppServer));
    assert!(run.record.turns.iter().all(|t| t.status.as_deref() == Some("completed") && t.turn_id.is_some()));
    assert_eq!(run.record.turns[0].args, ["app-server"]);
    let recording = run.recording();
    assert_eq!(recording.sessions.len(), 1, "every turn on the one thread");
    assert!(recording.exchanges().all(|e| e.capture.response.status == 200), "every expectation held");

    let start = &run.actions("start")[0];
    assert_eq!(run.actions("start").len(), 1, "one process for the thread");
    assert!(start["unix_ms"].as_i64().unwrap() > 1_700_000_000_000, "the wall clock: {start}");
    let initialize = &run.messages("client", "initialize")[0];
    assert_eq!(initialize["params"]["clientInfo"]["name"], "parity");
    let start = &run.messages("client", "thread/start")[0];
    assert_eq!(start["params"]["model"], "gpt-5.5");
    assert_eq!(start["params"]["approvalPolicy"], "never");
    assert!(start["params"]["cwd"].as_str().unwrap().ends_with("/workspace"));
    assert_eq!(run.messages("client", "turn/start").len(), 3);
    assert_eq!(run.messages("agent", "turn/completed").len(), 3);
    let exit = &run.actions("exit")[0];
    assert_eq!((exit["code"].as_i64(), exit["turn"].as_u64()), (Some(0), Some(3)), "closed after the last turn");
    assert_eq!(run.record.turns[2].exit_code, Some(0));
    let times: Vec<f64> = run.transcript().iter().map(|l| l["t_ms"].as_f64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "lines in the order things happened: {times:?}");
    let stdout = std::fs::read_to_string(run.out.join(&run.record.turns[1].stdout)).unwrap();
    assert!(stdout.contains("Second.") && !stdout.contains("Third."), "each turn keeps its share: {stdout}");
}

const HELD: &str = r#"
[[script.steps]]
name = "answer"
hold = { before = "response.completed", until = "release" }
output = [{ message = "Partial answer." }]
"#;

#[tokio::test]
async fn a_steer_at_a_hold_is_sent_there_and_lands_in_the_next_request() {
    let run = run(&format!(
        r#"{HEADER}
[[turns]]
prompt = "write a poem"
steer = {{ at = "answer", text = "make it short" }}
{HELD}
[[script.steps]]
expect = {{ last_input_contains = "make it short" }}
output = [{{ message = "Short poem." }}]
"#
    ))
    .await;
    assert!(run.record.succeeded(), "{:#?}", run.record);
    let steer = &run.actions("steer")[0];
    assert_eq!((steer["at"].as_str(), steer["text"].as_str()), (Some("answer"), Some("make it short")));
    assert_eq!(steer["request"]["seq"], 1, "the held request");
    let sent = &run.messages("client", "turn/steer")[0];
    assert_eq!(sent["params"]["expectedTurnId"].as_str(), run.record.turns[0].turn_id.as_deref());
    let release = &run.actions("release")[0];
    assert_eq!(release["released"], 0, "the agent closed the held stream itself");
    let requests: Vec<_> = run.recording().exchanges().map(|e| e.capture.clone()).collect();
    assert_eq!(requests.len(), 2);
    assert!(requests[1].request.message_texts("user").iter().any(|t| t == "make it short"));
}

#[tokio::test]
async fn an_interrupt_at_a_hold_ends_the_turn_interrupted_and_the_thread_goes_on() {
    let run = run(&format!(
        r#"{HEADER}
[[turns]]
prompt = "count to a million"
interrupt = {{ at = "answer" }}
[[turns]]
prompt = "never mind"
{HELD}
[[script.steps]]
expect = {{ last_input_contains = "never mind" }}
output = [{{ message = "OK." }}]
"#
    ))
    .await;
    assert!(run.record.succeeded(), "{:#?}", run.record);
    assert_eq!(run.record.turns[0].status.as_deref(), Some("interrupted"));
    assert_eq!(run.actions("interrupt")[0]["at"], "answer");
    let sent = &run.messages("client", "turn/interrupt")[0];
    assert_eq!(sent["params"]["turnId"].as_str(), run.record.turns[0].turn_id.as_deref());
    assert_eq!(run.record.turns[1].status.as_deref(), Some("completed"));
}

#[tokio::test]
async fn approvals_and_answers_are_given_in_order() {
    let run = run(&format!(
        r#"{HEADER}
[[turns]]
prompt = "set up"
approvals = ["accept", "decline"]
answers = [{{ color = "Blue" }}]
[[script.steps]]
output = [
  {{ function_call = {{ name = "exec_command", arguments = {{ cmd = "echo one", sandbox_permissions = "require_escalated" }}, call_id = "c1" }} }},
  {{ function_call = {{ name = "exec_command", arguments = {{ cmd = "echo two", sandbox_permissions = "require_escalated" }}, call_id = "c2" }} }},
  {{ function_call = {{ name = "request_user_input", arguments = {{ questions = [{{ id = "color", header = "Color", question = "Which?" }}] }}, call_id = "c3" }} }},
]
[[script.steps]]
expect = {{ function_call_output = ["c1", "c2", "c3"] }}
output = [{{ message = "Done." }}]
"#
    ))
    .await;
    assert!(run.record.succeeded(), "{:#?}", run.record);
    let decisions: Vec<Value> = run.actions("approval").iter().map(|a| a["decision"].clone()).collect();
    assert_eq!(decisions, ["accept", "decline"]);
    let answers = run.actions("answer");
    assert_eq!(answers[0]["answers"]["color"], serde_json::json!(["Blue"]));
    let second = run.recording().exchanges().nth(1).unwrap().capture.clone();
    assert_eq!(second.request.function_call_output_text("c1").as_deref(), Some("one\n"), "approved: it ran");
    assert_eq!(second.request.function_call_output_text("c2").as_deref(), Some("the user declined this command"));
    let input = second.request.function_call_output_text("c3").unwrap();
    assert!(input.contains("\"answers\":{\"color\":{\"answers\":[\"Blue\"]}}"), "{input}");
}

#[tokio::test]
async fn compact_resume_and_fork_carry_the_thread_through_processes() {
    let run = run(&format!(
        r#"{HEADER}
[[turns]]
prompt = "one"
[[turns]]
action = "compact"
[[turns]]
action = "resume"
[[turns]]
prompt = "after resume"
[[turns]]
action = "fork"
[[turns]]
prompt = "in the fork"
[[script.sessions]]
steps = [
  {{ output = [{{ message = "First." }}] }},
  {{ output = [{{ message = "The summary." }}] }},
  {{ expect = {{ input_contains = "The summary.", last_input_contains = "after resume" }}, output = [{{ message = "Resumed." }}] }},
]
[[script.steps]]
expect = {{ input_contains = "The summary.", last_input_contains = "in the fork" }}
output = [{{ message = "Forked." }}]
"#
    ))
    .await;
    assert!(run.record.succeeded(), "{:#?}", run.record);
    let actions: Vec<Option<&str>> = run.record.turns.iter().map(|t| t.action.as_deref()).collect();
    assert_eq!(actions, [None, Some("compact"), Some("resume"), None, Some("fork"), None]);
    assert_eq!(run.record.turns[1].status.as_deref(), Some("completed"), "the compaction's turn");
    let starts = run.actions("start");
    assert_eq!(starts.len(), 2, "resume starts a new process");
    assert_eq!(starts[1]["turn"], 3);
    assert_eq!(run.actions("exit")[0]["turn"], 3, "the first process ends at the resume");
    let thread = run.record.turns[0].thread_id.clone().unwrap();
    assert_eq!(run.messages("client", "thread/resume")[0]["params"]["threadId"], thread.as_str());
    let fork = &run.actions("fork")[0];
    assert_eq!(fork["thread"], thread.as_str());
    assert_eq!(run.record.turns[5].thread_id.as_deref(), fork["forked"].as_str(), "later turns go to the fork");
    let recording = run.recording();
    assert_eq!(recording.sessions.len(), 2, "the fork is a session of its own");
    assert!(recording.exchanges().all(|e| e.capture.response.status == 200), "every expectation held");
}

/// A failure: the run ends at once with the error, and the process is gone.
fn assert_failed(run: &Run, expected: &[&str]) {
    let error = run.error();
    for part in expected {
        assert!(error.contains(part), "{part:?} not in {error:?}");
    }
    assert!(error.starts_with("scenario demo, turn "), "names the scenario and the turn: {error}");
    assert_eq!(run.actions("failed")[0]["message"], error.as_str(), "the transcript says so too");
    assert!(run.elapsed < Duration::from_secs(15), "bounded: {:?}", run.elapsed);
}

const ONE_ANSWER: &str = "[[script.steps]]\noutput = [{ message = \"m\" }]\n";

#[tokio::test]
async fn an_agent_that_exits_mid_turn_fails_the_run() {
    let run = run_with(&failing_agent("exit-mid-turn"), &format!("prompt = \"p\"\n{HEADER}{ONE_ANSWER}")).await;
    assert_failed(&run, &["turn 1, turn/start: the agent closed its output (it exited 3)"]);
    assert_eq!(run.record.turns[0].exit_code, Some(3));
}

#[tokio::test]
async fn an_agent_that_never_answers_initialize_runs_out_of_time() {
    let text = format!("prompt = \"p\"\n{}{ONE_ANSWER}", HEADER.replace("10", "1"));
    let run = run_with(&failing_agent("no-initialize"), &text).await;
    assert_failed(&run, &["turn 1, initialize: no answer to initialize within the turn's 1 s"]);
    assert!(run.record.turns[0].timed_out);
    assert_eq!(run.messages("client", "initialize").len(), 1);
}

#[tokio::test]
async fn a_line_that_is_not_json_fails_the_run_and_is_kept() {
    let run = run_with(&failing_agent("malformed"), &format!("prompt = \"p\"\n{HEADER}{ONE_ANSWER}")).await;
    assert_failed(&run, &["turn 1, turn/start: the agent sent a line that is not JSON: \"this line is not JSON\""]);
    let malformed: Vec<Value> = run.transcript().into_iter().filter(|l| l.get("malformed").is_some()).collect();
    assert_eq!(malformed[0]["malformed"], "this line is not JSON");
    assert_eq!(malformed[0]["from"], "agent");
}

#[tokio::test]
async fn a_refused_steer_fails_the_run() {
    let text =
        format!("{HEADER}[[turns]]\nprompt = \"p\"\nsteer = {{ at = \"answer\", text = \"s\" }}\n{HELD}{ONE_ANSWER}");
    let run = run_with(&failing_agent("refuse-steer"), &text).await;
    assert_failed(
        &run,
        &["turn 1, steer at \"answer\": the agent refused it: JSON-RPC error -32600: no active turn to steer"],
    );
}

#[tokio::test]
async fn a_hold_the_turn_never_reaches_fails_the_run() {
    let late = "[[script.steps]]\noutput = [{ message = \"m\" }]\n[[script.steps]]\nname = \"late\"\nhold = {}\noutput = [{ message = \"n\" }]\n";
    let text = format!("{HEADER}[[turns]]\nprompt = \"p\"\ninterrupt = {{ at = \"late\" }}\n{late}");
    let run = run(&text).await;
    assert_failed(&run, &["turn 1, interrupt at \"late\": the turn ended (completed) before the hold was reached"]);

    // A turn that hangs never reaches it either: the turn's time runs out.
    let hang = format!(
        "{}[[turns]]\nprompt = \"hang\"\nsteer = {{ at = \"late\", text = \"s\" }}\n{late}",
        HEADER.replace("10", "1")
    );
    let run = self::run(&hang).await;
    assert_failed(&run, &["turn 1, steer at \"late\": the hold was not reached within the turn's 1 s"]);
    assert!(run.record.turns[0].timed_out);
}

#[tokio::test]
async fn approvals_must_match_what_the_agent_asks() {
    let escalated = "[[script.steps]]\noutput = [{ function_call = { name = \"exec_command\", arguments = { cmd = \"true\", sandbox_permissions = \"require_escalated\" }, call_id = \"c1\" } }]\n[[script.steps]]\noutput = [{ message = \"m\" }]\n";
    let run = self::run(&format!("prompt = \"p\"\n{HEADER}{escalated}")).await;
    assert_failed(
        &run,
        &[
            "turn 1, approval 1 (item/commandExecution/requestApproval): the agent asked for approval 1, the turn lists 0",
        ],
    );
    assert_eq!(run.actions("refused_request")[0]["method"], "item/commandExecution/requestApproval");

    let run =
        self::run(&format!("{HEADER}[[turns]]\nprompt = \"p\"\napprovals = [\"accept\", \"decline\"]\n{escalated}"))
            .await;
    assert_failed(&run, &["turn 1, approval 2: the turn lists 2 approvals, the agent asked for 1"]);
}

#[tokio::test]
async fn clean_removes_the_transcript_with_the_rest_of_the_recording() {
    let run = run(&format!("prompt = \"p\"\n{HEADER}{ONE_ANSWER}")).await;
    assert!(run.out.join("frontend.jsonl").is_file());
    std::fs::write(run.out.join("notes.md"), "mine").unwrap();
    parity_recorder::output::prepare(&run.out, true).unwrap();
    let left: Vec<_> = std::fs::read_dir(&run.out).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["notes.md"]);
}

/// A steer can wait for a message of the agent's instead of a hold: sent when the agent says the turn started, while
/// the answer is still on its way, it lands in the next request; sent after the turn completed, the agent refuses it
/// and the run fails naming the action.
#[tokio::test]
async fn a_steer_waiting_for_a_message_of_the_agent_s_goes_when_the_agent_sends_it() {
    let early = run(&format!(
        r#"{HEADER}
[[turns]]
prompt = "write a poem"
steer = {{ at = "agent:turn/started", text = "make it short" }}

[[script.steps]]
start_delay_ms = 400
output = [{{ message = "A long poem." }}]

[[script.steps]]
expect = {{ last_input_contains = "make it short" }}
output = [{{ message = "Short poem." }}]
"#
    ))
    .await;
    assert!(early.record.succeeded(), "{:#?}", early.record);
    let steer = &early.actions("steer")[0];
    assert_eq!(steer["at"], "agent:turn/started");
    assert!(early.actions("release").is_empty(), "no hold to release");
    let requests: Vec<_> = early.recording().exchanges().map(|e| e.capture.clone()).collect();
    assert_eq!(requests.len(), 2);
    assert!(requests[1].request.message_texts("user").iter().any(|t| t == "make it short"));

    let late = run(&format!(
        r#"{HEADER}
[[turns]]
prompt = "write a poem"
steer = {{ at = "agent:turn/completed", text = "too late" }}

[[script.steps]]
output = [{{ message = "A poem." }}]
"#
    ))
    .await;
    let error = late.error();
    assert!(error.contains("steer at \"agent:turn/completed\"") && error.contains("no active turn"), "{error}");

    let bad = Scenario::parse(
        &format!(
            "{HEADER}\n[[turns]]\nprompt = \"p\"\nsteer = {{ at = \"agent:\", text = \"x\" }}\n[[script.steps]]\n"
        ),
        Path::new("/virtual/scenarios/demo.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(bad.contains("\"agent:\" is no hold of the script"), "{bad}");
}
