//! rcodex's interactive interface in a pseudo-terminal (the recorder's tui frontend: portable-pty and a vt100
//! emulator), against parity's scripted server: what it shows (insta snapshots of the screen text, the run's paths,
//! times and counts made stable) and what the keys do (Enter, Tab, Esc, Ctrl-C, Up, the approval prompt, slash
//! commands).

use std::path::{Path, PathBuf};
use std::time::Duration;

use parity_capture::Recording;
use parity_e2e::bin;
use parity_recorder::{Agent, RecordOptions, RunRecord, Scenario, record};
use serde_json::Value;

struct Run {
    _tmp: tempfile::TempDir,
    out: PathBuf,
    work_root: PathBuf,
    record: RunRecord,
}

impl Run {
    /// The screen after step `step`, with the run's workspace as `[WORKSPACE]` and times and counts as `[N]`.
    fn screen(&self, step: usize) -> String {
        let text = std::fs::read_to_string(self.out.join(format!("screens/{step:03}.txt"))).unwrap();
        normalize(&text, &self.work_root)
    }

    /// The model requests of the thread (not the title requests), in order: the text of their last input item.
    fn thread_prompts(&self) -> Vec<String> {
        let recording = Recording::load(&self.out.join("captures")).unwrap();
        recording
            .exchanges()
            .map(|e| &e.capture)
            .filter(|c| c.request.path.ends_with("/responses"))
            .filter(|c| !c.request.header("x-codex-turn-metadata").unwrap_or_default().contains("thread_title"))
            .map(|c| parity_capture::view::item_text(c.request.input().last().unwrap()))
            .collect()
    }

    /// The turn id of each of the thread's requests.
    fn thread_turn_ids(&self) -> Vec<String> {
        let recording = Recording::load(&self.out.join("captures")).unwrap();
        recording
            .exchanges()
            .filter_map(|e| e.capture.request.header("x-codex-turn-metadata").map(str::to_string))
            .filter_map(|m| serde_json::from_str::<Value>(&m).ok())
            .filter(|m| m["thread_source"] != "thread_title")
            .map(|m| m["turn_id"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    fn title_prompts(&self) -> Vec<String> {
        let recording = Recording::load(&self.out.join("captures")).unwrap();
        recording
            .exchanges()
            .map(|e| &e.capture)
            .filter(|c| c.request.header("x-codex-turn-metadata").unwrap_or_default().contains("thread_title"))
            .map(|c| parity_capture::view::item_text(c.request.input().last().unwrap()))
            .collect()
    }
}

fn normalize(text: &str, work_root: &Path) -> String {
    let root = work_root.display().to_string();
    let mut lines = Vec::new();
    for line in text.lines() {
        let mut line = line.to_string();
        while let Some(at) = line.find(&root) {
            let end = line[at..].find("/workspace").map(|e| at + e + "/workspace".len()).unwrap_or(line.len());
            line.replace_range(at..end, "[WORKSPACE]");
        }
        lines.push(numbers_hidden(&uuids_hidden(&line)));
    }
    lines.join("\n")
}

/// Thread ids (`01a2487f-c34d-7364-abfb-c91576ed37e1`) -> `[UUID]`.
fn uuids_hidden(line: &str) -> String {
    let shape = [8, 4, 4, 4, 12];
    let mut out = String::new();
    let mut rest = line;
    'scan: while !rest.is_empty() {
        let mut at = 0;
        for (i, len) in shape.iter().enumerate() {
            let group = rest.get(at..at + len);
            let dash = i + 1 == shape.len() || rest.get(at + len..at + len + 1) == Some("-");
            if !group.is_some_and(|g| g.bytes().all(|b| b.is_ascii_hexdigit())) || !dash {
                let c = rest.chars().next().unwrap_or_default();
                out.push(c);
                rest = &rest[c.len_utf8()..];
                continue 'scan;
            }
            at += len + 1;
        }
        out.push_str("[UUID]");
        rest = &rest[at - 1..];
    }
    out
}

/// Times and counts that vary from run to run: `Worked for <1s`, `(3s • esc`, `2,460 tokens used`, `total=2,460`
/// -> `[N]`. Other numbers stay.
fn numbers_hidden(line: &str) -> String {
    let mut out = line.to_string();
    for (lead, tail) in [("Worked for ", ""), ("(", "s • esc"), ("· ", " tokens used"), ("=", "")] {
        let mut from = 0;
        while let Some(at) = out[from..].find(lead).map(|a| from + a + lead.len()) {
            let rest = &out[at..];
            let len = rest
                .char_indices()
                .take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && *c == '<') || (*i > 0 && *c == ','))
                .count();
            let unit = if rest[len..].starts_with('s') && tail.is_empty() { 1 } else { 0 };
            if len > 0 && rest[len + unit..].starts_with(tail) {
                out.replace_range(at..at + len + unit, "[N]");
            }
            from = at;
        }
    }
    out
}

async fn run(scenario: &str) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let agent = Agent::parse("rcodex", None, Some(&bin("rcodex"))).unwrap();
    let scenario = Scenario::parse(scenario, Path::new("/virtual/scenarios/rcodex-tui.toml")).unwrap();
    let out = tmp.path().join("out");
    let work_root = tmp.path().join("work");
    let options = RecordOptions { out: out.clone(), work_root: work_root.clone(), keep_work: false, clean: false };
    let record = tokio::time::timeout(Duration::from_secs(90), record(&scenario, &agent, &options))
        .await
        .expect("a run is bounded in time")
        .unwrap();
    Run { _tmp: tmp, out, work_root: std::fs::canonicalize(&work_root).unwrap_or(work_root), record }
}

/// Every run's failure, if any, as run.json tells it.
fn failure(record: &RunRecord) -> Option<String> {
    record.turns.iter().find_map(|t| t.error.clone())
}

/// The end of a run: Ctrl-C with the composer empty and no turn running quits.
const QUIT_STEPS: &str = r#"
[[tui.steps]]
key = "ctrl-c"

[[tui.steps]]
wait_exit = { timeout_ms = 10000 }
"#;

const TITLE_STEP: &str = r#"
[[script.steps]]
name = "title"
match = { last_input_contains = "Generate a concise, single-line task title" }
repeat = true
output = [{ message = "A task" }]
"#;

#[tokio::test]
async fn two_turns_stream_into_the_transcript_and_ctrl_c_quits_with_the_usage_and_the_resume_command() {
    let run = run(&format!(
        r#"
[agent]
frontend = "tui"
timeout_secs = 30

[[tui.steps]]
wait_screen = "Ask Codex to do anything"

[[tui.steps]]
type = "Remember the number 42."
key = "enter"

[[tui.steps]]
wait_screen = {{ text = "Worked for", count = 1 }}

[[tui.steps]]
type = "Add 8 to it."
key = "enter"

[[tui.steps]]
wait_screen = {{ text = "Worked for", count = 2 }}

[[tui.steps]]
key = "up"

[[tui.steps]]
wait_screen = "› Add 8 to it."

[[tui.steps]]
key = ["ctrl-c", "ctrl-c"]

[[tui.steps]]
wait_exit = {{ timeout_ms = 10000 }}
{TITLE_STEP}
[[script.steps]]
expect = {{ last_input_contains = "Remember the number 42" }}
output = [{{ message = "Noted: **42**, in `code` too." }}]

[[script.steps]]
expect = {{ last_input_contains = "Add 8", input_contains = "Noted" }}
output = [{{ message = "42 + 8 = 50." }}]
"#
    ))
    .await;
    assert_eq!(failure(&run.record), None);
    // The first screen is the composer, empty.
    assert!(run.screen(1).contains("› Ask Codex to do anything"), "{}", run.screen(1));
    insta::assert_snapshot!("two_turns", run.screen(5));
    // Up brings the last message back into the composer; the first Ctrl-C clears it, the second quits.
    assert!(run.screen(7).contains("\n› Add 8 to it.\n\n  gpt-5.5 default"), "{}", run.screen(7));
    let last = run.screen(9);
    assert!(last.contains("Token usage: total=[N] input=[N] output=[N]"), "{last}");
    assert!(last.contains("To continue this session, run:"), "{last}");
    assert_eq!(run.thread_prompts(), ["Remember the number 42.", "Add 8 to it."]);
    // Each message asks for a title, in a session of its own.
    let titles = run.title_prompts();
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert!(titles[0].ends_with("User prompt:\nRemember the number 42."), "{titles:?}");
}

#[tokio::test]
async fn the_composer_edits_at_its_cursor() {
    let run = run(&format!(
        r#"
[agent]
frontend = "tui"
timeout_secs = 30

[[tui.steps]]
wait_screen = "Ask Codex to do anything"

[[tui.steps]]
type = "hello wrld again"
key = ["ctrl-w", "left", "left", "left", "left"]

[[tui.steps]]
type = "o"
key = ["ctrl-a", "delete"]

[[tui.steps]]
type = "H"
key = ["end", "backspace"]

[[tui.steps]]
type = "!"

[[tui.steps]]
wait_screen = "Hello world!"

[[tui.steps]]
key = "enter"

[[tui.steps]]
wait_screen = "Hi."

[[tui.steps]]
key = "ctrl-c"

{TITLE_STEP}
[[script.steps]]
expect = {{ last_input_contains = "Hello world!" }}
output = [{{ message = "Hi." }}]
"#
    ))
    .await;
    assert_eq!(failure(&run.record), None);
    // Ctrl-W took "again", four lefts and an "o" mended "wrld", Ctrl-A and Delete took the "h" for an "H", End and
    // Backspace took the space Ctrl-W left.
    assert_eq!(run.thread_prompts(), ["Hello world!"]);
    assert!(run.screen(6).contains("› Hello world!"), "{}", run.screen(6));
}

#[tokio::test]
async fn enter_steers_the_running_turn_and_tab_queues_a_turn_of_its_own() {
    let run = run(&format!(
        r#"
[agent]
frontend = "tui"
timeout_secs = 30

[[tui.steps]]
wait_screen = "Ask Codex to do anything"

[[tui.steps]]
type = "Write a poem about the sea."
key = "enter"

[[tui.steps]]
at = "first"
type = "Make it short."
key = "enter"

[[tui.steps]]
at = "second"
type = "Then one about hills."
key = "tab"

[[tui.steps]]
wait_screen = {{ text = "Worked for", count = 2 }}

{QUIT_STEPS}
{TITLE_STEP}
[[script.steps]]
expect = {{ last_input_contains = "poem about the sea" }}
output = [
  {{ message = "The sea is wide," }},
  {{ delay_ms = 300 }},
  {{ hold = {{ name = "first", until = "release", timeout_ms = 10000 }} }},
]

[[script.steps]]
expect = {{ last_input_contains = "Make it short", input_contains = "The sea is wide" }}
output = [
  {{ message = "Waves." }},
  {{ delay_ms = 300 }},
  {{ hold = {{ name = "second", until = "release", timeout_ms = 10000 }} }},
]

[[script.steps]]
expect = {{ last_input_contains = "about hills" }}
output = [{{ message = "Hills roll." }}]
"#
    ))
    .await;
    assert_eq!(failure(&run.record), None);
    // The steer went into the running turn's next request; the queued message waited for the turn's end.
    assert_eq!(run.thread_prompts(), ["Write a poem about the sea.", "Make it short.", "Then one about hills."]);
    // Steered: the same turn; queued: a turn of its own.
    let turns = run.thread_turn_ids();
    assert_eq!(turns.len(), 3);
    assert!(turns[0] == turns[1] && turns[1] != turns[2], "{turns:?}");
    let last = run.screen(5);
    assert!(last.contains("• Hills roll."), "{last}");
    assert_eq!(run.title_prompts().len(), 3);
}

#[tokio::test]
async fn esc_interrupts_the_turn_and_the_next_prompt_goes_on_from_it() {
    let run = run(&format!(
        r#"
[agent]
frontend = "tui"
timeout_secs = 30

[[tui.steps]]
wait_screen = "Ask Codex to do anything"

[[tui.steps]]
type = "Count slowly."
key = "enter"

[[tui.steps]]
at = "counting"
key = "esc"

[[tui.steps]]
wait_screen = "Conversation interrupted"

[[tui.steps]]
type = "Just say done."
key = "enter"

[[tui.steps]]
wait_screen = "Done."

[[tui.steps]]
wait_screen = {{ text = "Worked for", count = 2 }}

{QUIT_STEPS}
{TITLE_STEP}
[[script.steps]]
expect = {{ last_input_contains = "Count slowly" }}
output = [
  {{ message = "One, two," }},
  {{ delay_ms = 300 }},
  {{ hold = {{ name = "counting", until = "release", timeout_ms = 10000 }} }},
]

[[script.steps]]
expect = {{ last_input_contains = "Just say done", input_contains = "<turn_aborted>" }}
output = [{{ message = "Done." }}]
"#
    ))
    .await;
    assert_eq!(failure(&run.record), None);
    insta::assert_snapshot!("interrupted", run.screen(4));
}

#[tokio::test]
async fn the_approval_prompt_runs_the_command_on_y_and_cancels_the_turn_on_esc() {
    let run = run(&format!(
        r#"
[agent]
frontend = "tui"
timeout_secs = 30
sandbox = "workspace-write"
approval = "on-request"

[[tui.steps]]
wait_screen = "Ask Codex to do anything"

[[tui.steps]]
type = "Configure git."
key = "enter"

[[tui.steps]]
wait_screen = "Yes, proceed"

[[tui.steps]]
type = "y"

[[tui.steps]]
wait_screen = "echo editor configured"

[[tui.steps]]
wait_screen = "Yes, proceed"

[[tui.steps]]
key = "esc"

[[tui.steps]]
wait_screen = "Conversation interrupted"

{QUIT_STEPS}
{TITLE_STEP}
[[script.steps]]
expect = {{ last_input_contains = "Configure git" }}
output = [{{ function_call = {{ name = "exec_command", arguments = {{ cmd = "echo hooks configured", sandbox_permissions = "require_escalated", justification = "It writes outside the workspace." }}, call_id = "call_hooks" }} }}]

[[script.steps]]
expect = {{ function_call_output = "call_hooks", last_input_contains = "hooks configured" }}
output = [{{ function_call = {{ name = "exec_command", arguments = {{ cmd = "echo editor configured", sandbox_permissions = "require_escalated", justification = "It writes outside the workspace." }}, call_id = "call_editor" }} }}]
"#
    ))
    .await;
    assert_eq!(failure(&run.record), None);
    insta::assert_snapshot!("approval", run.screen(3));
    let ran = run.screen(5);
    assert!(ran.contains("Ran echo hooks configured") && ran.contains("└ hooks configured"), "{ran}");
    // Cancelled: no request after the second call's.
    assert_eq!(run.thread_prompts().len(), 2);
}

#[tokio::test]
async fn an_mcp_tool_that_asks_shows_upstream_s_dialog_and_the_core_runs_remembers_or_cancels_the_call() {
    let fixture = bin("parity-mcp-fixture").display().to_string();
    let run = run(&format!(
        r#"
[agent]
frontend = "tui"
timeout_secs = 30
approval = "on-request"
config = {{ mcp_servers = {{ fixture = {{ command = "{fixture}", tools = {{ echo = {{ approval_mode = "prompt" }} }} }} }} }}

[[tui.steps]]
wait_screen = "Ask Codex to do anything"

[[tui.steps]]
type = "Keep two notes and echo."
key = "enter"

[[tui.steps]]
wait_screen = "note: first"

[[tui.steps]]
type = "2"

[[tui.steps]]
wait_screen = "text: hello"

[[tui.steps]]
key = "esc"

[[tui.steps]]
wait_screen = {{ text = "Worked for", count = 1 }}
{QUIT_STEPS}
{TITLE_STEP}
[[script.steps]]
expect = {{ last_input_contains = "Keep two notes" }}
output = [{{ function_call = {{ name = "write_note", namespace = "mcp__fixture", arguments = {{ note = "first" }}, call_id = "call_first" }} }}]

[[script.steps]]
expect = {{ function_call_output = "call_first" }}
output = [{{ function_call = {{ name = "write_note", namespace = "mcp__fixture", arguments = {{ note = "second" }}, call_id = "call_second" }} }}]

[[script.steps]]
expect = {{ function_call_output = "call_second" }}
output = [{{ function_call = {{ name = "echo", namespace = "mcp__fixture", arguments = {{ text = "hello" }}, call_id = "call_echo" }} }}]

[[script.steps]]
expect = {{ function_call_output = "call_echo" }}
output = [{{ message = "Two notes kept, no echo." }}]
"#
    ))
    .await;
    assert_eq!(failure(&run.record), None);
    // The dialog in the texts the pack learned from upstream's screens.
    let pack = rcodex_prompt_pack::embedded();
    let text = |key: &str| pack.text(key).unwrap_or_else(|| panic!("the pack has no {key}")).to_string();
    let keys = rcodex_prompt_pack::keys::TUI_MCP_APPROVAL_CHOICES;
    let dialog = run.screen(2);
    let question = text(&rcodex_prompt_pack::keys::tui_mcp_approval("question"))
        .replace("{{server}}", "fixture")
        .replace("{{tool}}", "write_note");
    assert!(dialog.contains(&question), "{dialog}");
    assert!(dialog.contains(&text(&rcodex_prompt_pack::keys::tui_mcp_approval("footer"))), "{dialog}");
    for (n, choice) in keys.iter().enumerate() {
        let label = text(&rcodex_prompt_pack::keys::tui_mcp_approval_choice(choice));
        let words = text(&rcodex_prompt_pack::keys::tui_mcp_approval_choice_description(choice));
        let row = dialog.lines().find(|row| row.contains(&format!("{}. {label}", n + 1))).unwrap_or_default();
        assert!(row.ends_with(&words), "{choice}: {dialog}");
    }
    // Allowed for the session: the second note runs unasked; the echo, cancelled, tells the model and the turn goes
    // on.
    let prompts = run.thread_prompts();
    assert_eq!(prompts.len(), 4, "{prompts:?}");
    assert!(prompts[1].contains("saved") && prompts[1].contains("first"), "{prompts:?}");
    assert!(prompts[2].contains("saved") && prompts[2].contains("second"), "{prompts:?}");
    assert!(prompts[3].contains("user cancelled MCP tool call"), "{prompts:?}");
    assert!(!run.screen(4).contains("note: second"), "{}", run.screen(4));
}

#[tokio::test]
async fn slash_new_starts_a_new_thread_and_slash_compact_compacts_this_one() {
    let run = run(&format!(
        r#"
[agent]
frontend = "tui"
timeout_secs = 30

[[tui.steps]]
wait_screen = "Ask Codex to do anything"

[[tui.steps]]
type = "Remember the number 42."
key = "enter"

[[tui.steps]]
wait_screen = {{ text = "Worked for", count = 1 }}

[[tui.steps]]
type = "/compact"
key = "enter"

[[tui.steps]]
wait_screen = "Context compacted"

[[tui.steps]]
type = "/new"
key = "enter"

[[tui.steps]]
wait_ms = 300

[[tui.steps]]
type = "/quit"
key = "enter"

[[tui.steps]]
wait_exit = {{ timeout_ms = 10000 }}
{TITLE_STEP}
[[script.steps]]
expect = {{ last_input_contains = "Remember the number 42" }}
output = [{{ message = "Noted: 42." }}]

[[script.steps]]
name = "compaction"
output = [{{ message = "The user asked to remember 42." }}]
"#
    ))
    .await;
    assert_eq!(failure(&run.record), None);
    assert!(run.screen(5).contains("• Context compacted"), "{}", run.screen(5));
    let fresh = run.screen(7);
    assert!(!fresh.contains("Remember the number 42.") && fresh.contains("Ask Codex to do anything"), "{fresh}");
    // The compaction request: its metadata says so.
    let recording = Recording::load(&run.out.join("captures")).unwrap();
    let kinds: Vec<String> = recording
        .exchanges()
        .filter_map(|e| e.capture.request.header("x-codex-turn-metadata").map(str::to_string))
        .filter_map(|m| serde_json::from_str::<Value>(&m).ok())
        .filter(|m| m["thread_source"] != "thread_title")
        .map(|m| m["request_kind"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(kinds, ["turn", "compaction"]);
}

#[tokio::test]
async fn slash_model_picks_a_model_and_its_effort_for_the_next_turn() {
    let run = run(&format!(
        r#"
[agent]
frontend = "tui"
timeout_secs = 30

[[tui.steps]]
wait_screen = "Ask Codex to do anything"

[[tui.steps]]
type = "/model"
key = "enter"

[[tui.steps]]
wait_screen = "Select Model and Effort"

[[tui.steps]]
type = "5"

[[tui.steps]]
wait_screen = "Select Reasoning Level for GPT-5.6-Sol"

[[tui.steps]]
key = "enter"

[[tui.steps]]
wait_screen = "Model changed to gpt-5.6-sol"

[[tui.steps]]
type = "Say hello."
key = "enter"

[[tui.steps]]
wait_screen = {{ text = "Worked for", count = 1 }}

{QUIT_STEPS}
{TITLE_STEP}
[[script.steps]]
expect = {{ last_input_contains = "Say hello." }}
output = [{{ message = "Hello." }}]
"#
    ))
    .await;
    assert_eq!(failure(&run.record), None);
    insta::assert_snapshot!("model_picker", run.screen(3));
    let recording = Recording::load(&run.out.join("captures")).unwrap();
    let models: Vec<String> = recording
        .exchanges()
        .filter(|e| !e.capture.request.header("x-codex-turn-metadata").unwrap_or_default().contains("thread_title"))
        .map(|e| e.capture.request.body["model"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(models, ["gpt-5.6-sol"]);
    assert!(run.screen(9).contains("gpt-5.6-sol low ·"), "the status line names the new model:\n{}", run.screen(9));
}

#[tokio::test]
async fn a_patch_shows_as_a_numbered_diff_and_slash_diff_and_slash_status_tell_the_workspace_and_the_thread() {
    let run = run(&format!(
        r##"
[agent]
frontend = "tui"
timeout_secs = 30

[workspace]
git = true
files = {{ "README.md" = "# Demo\n\nA demo project.\nIt does little.\n", "obsolete.txt" = "old\n" }}

[[tui.steps]]
wait_screen = "Ask Codex to do anything"

[[tui.steps]]
type = "Tidy up the project files."
key = "enter"

[[tui.steps]]
wait_screen = {{ text = "Worked for", count = 1 }}

[[tui.steps]]
type = "/diff"
key = "enter"

[[tui.steps]]
wait_screen = "q close"

[[tui.steps]]
key = "end"

[[tui.steps]]
type = "q"

[[tui.steps]]
type = "/status"
key = "enter"

[[tui.steps]]
wait_screen = "Context window:"
{QUIT_STEPS}{TITLE_STEP}
[[script.steps]]
expect = {{ last_input_contains = "Tidy up the project files." }}
[[script.steps.output]]
reasoning = {{ summary = ["**Tidying the files**\n\nOne patch does it all."], encrypted_content = "gAAAAABparity-fixture" }}
[[script.steps.output]]
[script.steps.output.custom_tool_call]
name = "apply_patch"
call_id = "call_patch"
input = """*** Begin Patch
*** Add File: docs/usage.md
+# Usage
+
+Run it.
*** Update File: README.md
@@
 # Demo
 
-A demo project.
+A demo project, tidied.
 It does little.
*** Delete File: obsolete.txt
*** End Patch
"""

[[script.steps]]
expect = {{ function_call_output = "call_patch" }}
output = [{{ message = "Tidied: three files changed." }}]
"##
    ))
    .await;
    assert_eq!(failure(&run.record), None);
    // The reasoning's summary, then the patch: each file with its lines added and removed, numbered.
    insta::assert_snapshot!("patch", run.screen(3));
    // The pager: git's diff of the tracked files, then the untracked one; End jumps to its last screen.
    let pager = run.screen(6);
    assert!(pager.starts_with("/ D I F F"), "{pager}");
    let (tracked, untracked) = (pager.find("+A demo project, tidied."), pager.find("+++ b/docs/usage.md"));
    assert!(tracked.is_some() && untracked > tracked, "{pager}");
    assert!(pager.contains("100%"), "{pager}");
    // q closed it; /status tells the settings, this thread and its usage.
    let status = run.screen(9);
    assert!(!status.contains("q close"), "{status}");
    let from = status.find("/status").expect("the status cell");
    insta::assert_snapshot!("status", status[from..].lines().take(11).collect::<Vec<_>>().join("\n"));
}

#[tokio::test]
async fn rcodex_fork_starts_a_new_thread_with_the_saved_conversation_and_slash_fork_forks_the_running_one() {
    let run = run(&format!(
        r#"
[agent]
frontend = "tui"
timeout_secs = 30

[[tui.steps]]
wait_screen = "Ask Codex to do anything"

[[tui.steps]]
type = "Remember the number 42."
key = "enter"

[[tui.steps]]
wait_screen = {{ text = "Worked for", count = 1 }}
{QUIT_STEPS}
[[tui.steps]]
start = ["fork", "--last"]

[[tui.steps]]
wait_screen = "Thread forked from"

[[tui.steps]]
type = "What number?"
key = "enter"

[[tui.steps]]
wait_screen = {{ text = "Worked for", count = 2 }}

[[tui.steps]]
type = "/fork"
key = "enter"

[[tui.steps]]
wait_screen = "Fork created. You can continue here."

[[tui.steps]]
type = "And doubled?"
key = "enter"

[[tui.steps]]
wait_screen = "84."

[[tui.steps]]
wait_ms = 500
{QUIT_STEPS}{TITLE_STEP}
[[script.steps]]
match = {{ last_input_contains = "Remember the number 42" }}
output = [{{ message = "Noted: 42." }}]

[[script.steps]]
match = {{ last_input_contains = "What number?", input_contains = "Noted: 42." }}
output = [{{ message = "42." }}]

[[script.steps]]
match = {{ last_input_contains = "And doubled?", input_contains = "What number?" }}
output = [{{ message = "84." }}]
"#
    ))
    .await;
    assert_eq!(failure(&run.record), None);
    // The forked thread opens with the conversation it was forked from.
    let forked = run.screen(7);
    assert!(forked.contains("• Thread forked from [UUID]") && forked.contains("• Noted: 42."), "{forked}");
    let recording = Recording::load(&run.out.join("captures")).unwrap();
    let metadata: Vec<Value> = recording
        .exchanges()
        .filter_map(|e| e.capture.request.header("x-codex-turn-metadata").map(str::to_string))
        .filter_map(|m| serde_json::from_str::<Value>(&m).ok())
        .filter(|m| m["thread_source"] != "thread_title")
        .collect();
    let seen: Vec<(&str, &str)> = metadata
        .iter()
        .map(|m| (m["history_initialization"].as_str().unwrap(), m["forked_from_thread_id"].as_str().unwrap_or("")))
        .collect();
    let threads: Vec<&str> = metadata.iter().map(|m| m["thread_id"].as_str().unwrap()).collect();
    // A fork read from its file as the process starts is cold; one of the running thread is warm. Each is a
    // thread of its own, forked from the one before.
    assert_eq!(seen[0], ("new", ""));
    assert_eq!(seen[1], ("cold_fork", threads[0]));
    assert_eq!(seen[2], ("warm_fork", threads[1]));
    assert!(threads[0] != threads[1] && threads[1] != threads[2], "{threads:?}");
}

#[tokio::test]
async fn slash_resume_lists_this_directory_s_sessions_and_opens_the_one_chosen() {
    let run = run(&format!(
        r#"
[agent]
frontend = "tui"
timeout_secs = 30

[[tui.steps]]
wait_screen = "Ask Codex to do anything"

[[tui.steps]]
type = "Remember the number 42."
key = "enter"

[[tui.steps]]
wait_screen = {{ text = "Worked for", count = 1 }}

[[tui.steps]]
type = "/new"
key = "enter"

[[tui.steps]]
type = "Remember the colour blue."
key = "enter"

[[tui.steps]]
wait_screen = {{ text = "Worked for", count = 1 }}

[[tui.steps]]
type = "/resume"
key = "enter"

[[tui.steps]]
wait_screen = "Resume a previous session"

[[tui.steps]]
type = "2"

[[tui.steps]]
wait_screen = "Noted: 42."

[[tui.steps]]
type = "What number?"
key = "enter"

[[tui.steps]]
wait_screen = {{ text = "Worked for", count = 2 }}
{QUIT_STEPS}{TITLE_STEP}
[[script.steps]]
match = {{ last_input_contains = "Remember the number 42" }}
output = [{{ message = "Noted: 42." }}]

[[script.steps]]
match = {{ last_input_contains = "Remember the colour blue" }}
output = [{{ message = "Noted: blue." }}]

[[script.steps]]
match = {{ last_input_contains = "What number?", input_contains = "Noted: 42." }}
output = [{{ message = "42." }}]
"#
    ))
    .await;
    assert_eq!(failure(&run.record), None);
    // Newest first, each by its first message.
    let picker = run.screen(8);
    let (blue, number) = (picker.find("1. Remember the colour blue."), picker.find("2. Remember the number 42."));
    assert!(blue.is_some() && number > blue, "{picker}");
    let resumed = run.screen(10);
    assert!(resumed.contains("Remember the number 42.") && !resumed.contains("colour blue"), "{resumed}");
    // The turn after goes on in the resumed thread: its request carries the first conversation, not the second.
    let recording = Recording::load(&run.out.join("captures")).unwrap();
    let asked = recording
        .exchanges()
        .map(|e| &e.capture.request)
        .find(|r| r.input().last().is_some_and(|i| parity_capture::view::item_text(i) == "What number?"))
        .expect("the resumed thread's request");
    let texts: Vec<String> = asked.input().iter().map(parity_capture::view::item_text).collect();
    assert!(texts.iter().any(|t| t == "Noted: 42."), "{texts:?}");
    assert!(!texts.iter().any(|t| t == "Remember the colour blue."), "{texts:?}");
}

#[tokio::test]
async fn page_up_scrolls_the_transcript_back_and_page_down_returns_to_its_end() {
    let long: String = (1..=60).map(|i| format!("Line {i} of the answer.\n\n")).collect();
    let run = run(&format!(
        r#"
[agent]
frontend = "tui"
timeout_secs = 30

[[tui.steps]]
wait_screen = "Ask Codex to do anything"

[[tui.steps]]
type = "Write a long answer."
key = "enter"

[[tui.steps]]
wait_screen = {{ text = "Worked for", count = 1 }}

[[tui.steps]]
key = ["pageup", "pageup", "pageup"]

[[tui.steps]]
key = ["pagedown", "pagedown", "pagedown"]
{QUIT_STEPS}{TITLE_STEP}
[[script.steps]]
expect = {{ last_input_contains = "Write a long answer." }}
output = [{{ message = {long:?} }}]
"#
    ))
    .await;
    assert_eq!(failure(&run.record), None);
    let (end, back, again) = (run.screen(3), run.screen(4), run.screen(5));
    assert!(end.contains("Line 60 of the answer.") && !end.contains("Line 40 of the answer."), "{end}");
    // Three pages of ten rows back: the answer's 30 rows above the end are in view, its end is not.
    assert!(back.contains("Line 45 of the answer.") && !back.contains("Line 60 of the answer."), "{back}");
    assert!(back.contains("↑ 30 rows back · PgDn returns"), "{back}");
    assert_eq!(again, end);
}

/// A `/review` scenario: the interface on a git workspace (`workspace`: its table's lines after `git = true`),
/// `steps` once it shows its composer, then Ctrl-C, the title step and `script`'s steps.
fn review_scenario(workspace: &str, steps: &str, script: &str) -> String {
    format!(
        r#"
[agent]
frontend = "tui"
timeout_secs = 30

[workspace]
git = true
{workspace}

[[tui.steps]]
wait_screen = "Ask Codex to do anything"
{steps}{QUIT_STEPS}{TITLE_STEP}{script}"#
    )
}

/// Three steps: `/review`, the wait for its four presets, the digit that chooses the one numbered `preset`.
fn preset_steps(preset: usize) -> String {
    format!(
        r#"
[[tui.steps]]
type = "/review"
key = "enter"

[[tui.steps]]
wait_screen = "4. "

[[tui.steps]]
type = "{preset}"
"#
    )
}

/// Four steps: `query` typed into a list's search field, a pause for the screen, Enter, the wait for the review's
/// end.
fn search_and_choose_steps(query: &str) -> String {
    format!(
        r#"
[[tui.steps]]
type = "{query}"

[[tui.steps]]
wait_ms = 300

[[tui.steps]]
key = "enter"

[[tui.steps]]
wait_screen = {{ text = "Worked for", count = 1 }}
"#
    )
}

/// The reviewer's answer, no findings and `explanation`, to the request that holds `asked`.
fn no_findings(asked: &str, explanation: &str) -> String {
    format!(
        r#"
[[script.steps]]
match = {{ last_input_contains = "{asked}" }}
output = [{{ message = '{{"findings":[],"overall_explanation":"{explanation}"}}' }}]
"#
    )
}

/// The text of the last input item of each request the reviewer sent.
fn reviewer_requests(run: &Run) -> Vec<String> {
    let recording = Recording::load(&run.out.join("captures")).unwrap();
    recording
        .exchanges()
        .map(|e| &e.capture.request)
        .filter(|r| r.header("x-openai-subagent") == Some("review"))
        .map(|r| parity_capture::view::item_text(r.input().last().unwrap()))
        .collect()
}

#[tokio::test]
async fn slash_review_runs_the_reviewer_as_a_sub_agent_of_the_thread_and_shows_its_findings() {
    let findings = r#"{"findings":[{"title":"[P1] add subtracts","body":"It returns a - b.","confidence_score":0.9,"priority":1,"code_location":{"absolute_file_path":"src/math.rs","line_range":{"start":2,"end":2}}}],"overall_correctness":"patch is incorrect","overall_explanation":"add no longer adds.","overall_confidence_score":0.8}"#;
    let steps = format!(
        r#"
[[tui.steps]]
type = "Remember the number 42."
key = "enter"

[[tui.steps]]
wait_screen = {{ text = "Worked for", count = 1 }}
{}
[[tui.steps]]
wait_screen = {{ text = "Worked for", count = 2 }}
"#,
        preset_steps(2)
    );
    let script = format!(
        r#"
[[script.steps]]
match = {{ last_input_contains = "Remember the number 42" }}
output = [{{ message = "Noted: 42." }}]

[[script.steps]]
match = {{ last_input_contains = "staged, unstaged" }}
output = [{{ function_call = {{ name = "exec_command", arguments = {{ cmd = "git diff --stat" }}, call_id = "call_diff" }} }}]

[[script.steps]]
expect = {{ function_call_output = "call_diff" }}
output = [{{ message = '{findings}' }}]
"#
    );
    let workspace = r#"files = { "src/math.rs" = "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n" }
changes = { "src/math.rs" = "pub fn add(a: i32, b: i32) -> i32 {\n    a - b\n}\n" }"#;
    let run = run(&review_scenario(workspace, &steps, &script)).await;
    assert_eq!(failure(&run.record), None);
    let picker = run.screen(5);
    assert!(picker.contains("› 1. ") && picker.contains("  4. "), "four presets, the first selected:\n{picker}");
    // The reviewer's findings, its command, between the lines that open and close the review.
    let end = run.screen(7);
    let (opened, ran, closed, found) = (
        end.find(">> "),
        end.find("git diff --stat"),
        end.find("<< "),
        end.find("[P1] add subtracts — src/math.rs:2-2"),
    );
    assert!(opened.is_some() && opened < ran && ran < closed && closed < found, "{end}");
    assert!(end.contains("add no longer adds."), "{end}");

    let recording = Recording::load(&run.out.join("captures")).unwrap();
    let requests: Vec<_> = recording
        .exchanges()
        .map(|e| &e.capture.request)
        .filter(|r| !r.header("x-codex-turn-metadata").unwrap_or_default().contains("thread_title"))
        .collect();
    let thread_id = requests[0].header("session-id").unwrap().to_string();
    let reviews: Vec<_> = requests.iter().filter(|r| r.header("x-openai-subagent") == Some("review")).collect();
    assert_eq!(reviews.len(), 2, "the reviewer asks, runs its command, asks again");
    for review in &reviews {
        assert_eq!(review.header("x-codex-parent-thread-id"), Some(thread_id.as_str()), "the thread is its parent");
        assert_eq!(review.header("session-id"), Some(thread_id.as_str()));
        assert_eq!(review.header("originator"), Some("codex-tui"));
        // Its own session: the thread's conversation is not in it.
        let texts: Vec<String> = review.input().iter().map(parity_capture::view::item_text).collect();
        assert!(!texts.iter().any(|t| t.contains("Remember the number 42")), "{texts:?}");
    }
    let metadata: Value = serde_json::from_str(reviews[0].header("x-codex-turn-metadata").unwrap()).unwrap();
    assert_eq!(metadata["subagent_kind"], "review");
    assert_eq!(metadata["parent_thread_id"], thread_id.as_str());
    // A title is asked for the review's request, as for a message typed.
    let review_request = parity_capture::view::item_text(reviews[0].input().last().unwrap());
    assert!(run.title_prompts().iter().any(|t| t.ends_with(&review_request)), "{:?}", run.title_prompts());
}

#[tokio::test]
async fn slash_review_s_custom_preset_asks_for_instructions_and_sends_them_as_typed() {
    let steps = format!(
        r#"{}
[[tui.steps]]
wait_ms = 300

[[tui.steps]]
key = "esc"
{}
[[tui.steps]]
type = "Look at a.txt only."
key = "enter"

[[tui.steps]]
wait_screen = {{ text = "Worked for", count = 1 }}
"#,
        preset_steps(4),
        preset_steps(4)
    );
    let script = no_findings("Look at a.txt only.", "a.txt is fine.");
    let run = run(&review_scenario(r#"files = { "a.txt" = "one\n" }"#, &steps, &script)).await;
    assert_eq!(failure(&run.record), None);
    // The prompt replaces the picker; Esc leaves it without a review.
    let prompt = run.screen(5);
    assert!(!prompt.contains("4. ") && prompt.contains("› "), "{prompt}");
    assert!(run.screen(6).contains("Ask Codex to do anything"), "{}", run.screen(6));
    let end = run.screen(11);
    assert!(end.contains("Look at a.txt only. <<") && end.contains("a.txt is fine."), "{end}");
    assert_eq!(reviewer_requests(&run), ["Look at a.txt only."], "one review, asked the instructions as typed");
}

#[tokio::test]
async fn slash_review_s_base_branch_preset_lists_the_local_branches_to_search_and_reviews_against_the_one_chosen() {
    let workspace = r#"files = { "a.txt" = "one\n" }

[[workspace.commits]]
message = "Two"
branch = "zeta"
files = { "a.txt" = "two\n" }

[[workspace.commits]]
message = "Three"
branch = "feature"
files = { "a.txt" = "three\n" }"#;
    let steps = format!(
        r#"{}
[[tui.steps]]
wait_screen = "feature"

[[tui.steps]]
key = "esc"

[[tui.steps]]
wait_screen = "4. "

[[tui.steps]]
type = "1"

[[tui.steps]]
wait_screen = "feature"
{}"#,
        preset_steps(1),
        search_and_choose_steps("MA")
    );
    let script = no_findings("base branch", "feature is fine against main.");
    let run = run(&review_scenario(workspace, &steps, &script)).await;
    assert_eq!(failure(&run.record), None);
    // The local branches, the default first, then sorted; the current one named above them.
    let list = run.screen(5);
    let rows: Vec<&str> = list.lines().filter(|l| l.starts_with("› ") || l.starts_with("  ")).map(str::trim).collect();
    let at = rows.iter().position(|r| *r == "› main").unwrap_or_else(|| panic!("main selected first:\n{list}"));
    assert_eq!(rows[at..at + 3], ["› main", "feature", "zeta"], "{list}");
    assert!(rows[..at].iter().any(|r| r.ends_with("feature") && r.contains(' ')), "the current branch:\n{list}");
    assert!(!list.contains("1. "), "a searchable list is not numbered:\n{list}");
    // Esc goes back to the presets, the base-branch one selected.
    assert!(run.screen(7).contains("› 1. "), "{}", run.screen(7));
    // Typing searches, whatever the case: main alone is left, selected.
    let found = run.screen(11);
    assert!(found.contains("  MA") && found.contains("› main"), "{found}");
    assert!(!found.contains("zeta") && !found.contains("  feature\n"), "{found}");
    let end = run.screen(13);
    assert!(end.contains("'main' <<") && end.contains("feature is fine against main."), "{end}");
    let reviews = reviewer_requests(&run);
    assert_eq!(reviews.len(), 1, "{reviews:?}");
    assert!(reviews[0].contains("base branch 'main'") && !reviews[0].contains("zeta"), "{reviews:?}");
}

#[tokio::test]
async fn slash_review_s_commit_preset_lists_the_recent_commits_to_search_and_reviews_the_one_chosen() {
    let workspace = r#"files = { "a.txt" = "one\n" }

[[workspace.commits]]
message = "Make a faster"
files = { "a.txt" = "two\n" }

[[workspace.commits]]
message = "Document a"
files = { "a.txt" = "three\n" }"#;
    let steps = format!(
        r#"{}
[[tui.steps]]
wait_screen = "Make a faster"

[[tui.steps]]
key = "up"
{}"#,
        preset_steps(3),
        search_and_choose_steps("faster")
    );
    let script = no_findings("Make a faster", "The commit is fine.");
    let run = run(&review_scenario(workspace, &steps, &script)).await;
    assert_eq!(failure(&run.record), None);
    // Newest first, by their subjects; Up from the first wraps to the last.
    let list = run.screen(5);
    let newest = list.find("› Document a").unwrap_or_else(|| panic!("the newest selected:\n{list}"));
    assert!(list[newest..].contains("\n  Make a faster\n"), "{list}");
    let wrapped = run.screen(6);
    assert!(
        wrapped.contains("  Document a") && !wrapped.contains("› Document a") && !wrapped.contains("› Make"),
        "{wrapped}"
    );
    // The search finds the subject; the selection, on a commit no longer shown, goes to the first found.
    let found = run.screen(8);
    assert!(found.contains("› Make a faster") && !found.contains("Document a"), "{found}");
    let reviews = reviewer_requests(&run);
    assert_eq!(reviews.len(), 1, "{reviews:?}");
    let sha = reviews[0].split_whitespace().find(|w| w.len() == 40).unwrap_or_else(|| panic!("{reviews:?}"));
    assert!(reviews[0].contains(&format!("{sha} (\"Make a faster\")")), "the hash and the subject: {reviews:?}");
    let end = run.screen(10);
    assert!(end.contains(&format!("{}: Make a faster <<", &sha[..7])), "{end}");
    assert!(end.contains("The commit is fine."), "{end}");
}
