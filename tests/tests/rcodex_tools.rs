//! rcodex's tools as a user meets them: rcodex exec against the scripted server, each tool's output as the next
//! request carries it, its `--json` items, and its failure paths (bad arguments, a missing file, a non-zero exit, a
//! timeout, a patch that does not apply); and the sandbox modes enforced on real commands.

use std::time::{Duration, Instant};

use parity_e2e::{Run, output_item, output_text, scripted};
use parity_server::Step;
use serde_json::{Value, json};

/// `exec_command`'s text without its first two lines (chunk id and wall time vary).
fn stable(text: &str) -> String {
    text.lines().skip(2).map(|l| format!("{l}\n")).collect()
}

fn call(name: &str, arguments: Value, call_id: &str) -> Step {
    Step::function_call(name, arguments).call_id(call_id)
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_command_output_exit_codes_bad_arguments_and_sessions() {
    let s = scripted([
        Step::reply()
            .then_function_call("exec_command", json!({"cmd": "printf 'a\\nb\\n'; echo oops >&2; exit 3"}))
            .call_id("exit3")
            .then_function_call("exec_command", json!({"command": "ls"}))
            .call_id("bad")
            .then_function_call("exec_command", json!({"cmd": "sleep 1; echo late", "yield_time_ms": 300}))
            .call_id("slow"),
        call("write_stdin", json!({"session_id": 999999, "chars": ""}), "unknown")
            .expect_last_input_contains("Process running with session ID"),
        Step::reply()
            .then_function_call("write_stdin", json!({"session_id": "{{session}}", "chars": "", "yield_time_ms": 5000}))
            .call_id("poll")
            .extract("session", "Process running with session ID (\\d+)"),
        Step::message("done").expect_function_call_output("poll"),
    ])
    .await;
    let run = Run::new(&s.base_url(), "sandbox_mode = \"danger-full-access\"", "");
    let out = run.exec(&["run things"]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    let requests = s.model_requests().await;

    assert_eq!(
        stable(&output_text(&requests, "exit3")),
        "Process exited with code 3\nOriginal token count: 3\nOutput:\na\nb\noops\n"
    );
    assert_eq!(
        output_text(&requests, "bad"),
        "failed to parse function arguments: missing field `cmd` at line 1 column 16"
    );
    let slow = output_text(&requests, "slow");
    assert!(slow.contains("Process running with session ID "), "the yield time is up, the command runs on: {slow}");
    assert_eq!(output_text(&requests, "unknown"), "write_stdin failed: Unknown process id 999999");
    let poll = output_text(&requests, "poll");
    assert!(poll.contains("Process exited with code 0") && poll.ends_with("Output:\nlate\n"), "{poll}");

    let commands: Vec<&Value> =
        out.of_type("item.completed").into_iter().filter(|e| e["item"]["type"] == "command_execution").collect();
    let by_output = |text: &str| commands.iter().find(|e| e["item"]["aggregated_output"] == text).copied();
    let failed = by_output("a\nb\noops\n").expect("the failing command is reported");
    assert_eq!((failed["item"]["exit_code"].as_i64(), failed["item"]["status"].as_str()), (Some(3), Some("failed")));
    assert_eq!(failed["item"]["command"], r#"/bin/bash -lc "printf 'a\\nb\\n'; echo oops >&2; exit 3""#);
    let late = by_output("late\n").expect("the slow command's end is reported when it comes");
    assert_eq!(late["item"]["status"], "completed");
    let started = out.of_type("item.started");
    assert_eq!(started.len(), 2, "two commands started (the bad call never ran)");
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_of_one_response_run_together_and_answer_in_order() {
    let sleep = |n: u32| json!({"cmd": format!("sleep 0.6; echo {n}")});
    let s = scripted([
        Step::reply()
            .then_function_call("exec_command", sleep(1))
            .call_id("one")
            .then_function_call("exec_command", sleep(2))
            .call_id("two")
            .then_function_call("exec_command", sleep(3))
            .call_id("three"),
        Step::message("done"),
    ])
    .await;
    let run = Run::new(&s.base_url(), "sandbox_mode = \"danger-full-access\"", "");
    let started = Instant::now();
    let out = run.exec(&["three at once"]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    assert!(started.elapsed() < Duration::from_millis(1600), "not one after another: {:?}", started.elapsed());
    let last = s.model_requests().await.pop().unwrap();
    let outputs: Vec<&str> = last
        .request
        .input()
        .iter()
        .filter(|i| i["type"] == "function_call_output")
        .map(|i| i["call_id"].as_str().unwrap())
        .collect();
    assert_eq!(outputs, ["one", "two", "three"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_left_running_end_with_rcodex() {
    let pid_file = tempfile::NamedTempFile::new().unwrap();
    let cmd = format!("echo $$ > {}; exec sleep 60", pid_file.path().display());
    let s = scripted([
        call("exec_command", json!({"cmd": cmd, "tty": true, "yield_time_ms": 300}), "forever"),
        Step::message("left it running"),
    ])
    .await;
    let run = Run::new(&s.base_url(), "sandbox_mode = \"danger-full-access\"", "");
    let out = run.exec(&["start a server"]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    let pid: i32 = std::fs::read_to_string(pid_file.path()).unwrap().trim().parse().unwrap();
    // SAFETY: signal 0 only asks whether the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    assert!(!alive, "the session's process {pid} was killed when rcodex exited");
    assert!(
        out.of_type("item.completed").iter().all(|e| e["item"]["type"] != "command_execution"),
        "a command killed at exit is not reported after the turn: {}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_during_a_command_kills_it_with_the_turn() {
    let workspace = tempfile::tempdir().unwrap();
    let pid_file = workspace.path().join("pid");
    // SIGTERM ignored (sleep inherits that), so only rcodex's own clean-up ends it, not the parent-death signal.
    let cmd = format!("trap '' TERM; echo $$ > {}.part && mv {0}.part {0}; exec sleep 60", pid_file.display());
    // The command outlives its yield time by far: rcodex is inside the tool call when the signal comes.
    let s = scripted([call("exec_command", json!({"cmd": cmd, "yield_time_ms": 30000}), "long")]).await;
    let run = Run::new(&s.base_url(), "sandbox_mode = \"danger-full-access\"", "");
    let mut child = run
        .rcodex(&["exec", "--skip-git-repo-check", "--json", "wait for it"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let pid = loop {
        if let Ok(text) = std::fs::read_to_string(&pid_file) {
            break text.trim().parse::<i32>().unwrap();
        }
        assert!(Instant::now() < deadline, "the command never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // SAFETY: kill only sends signals; SIGINT to rcodex as ctrl-C would, signal 0 asks whether the pid exists.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert_eq!(status.code(), Some(130));
    // Killed, it may stay a zombie for a moment, until init reaps it: gone or a zombie is no longer running.
    let proc = std::path::PathBuf::from(format!("/proc/{pid}"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while proc.exists() && !std::fs::read_to_string(proc.join("stat")).unwrap_or_default().contains(") Z ") {
        assert!(Instant::now() < deadline, "the command {pid} was killed with the interrupted turn");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(s.captures().await.len(), 1, "no request follows an interrupted tool call");
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_patch_is_all_or_nothing_and_reported_as_a_file_change() {
    let good =
        "*** Begin Patch\n*** Add File: notes.md\n+# Notes\n*** Update File: a.txt\n@@\n-one\n+uno\n*** End Patch\n";
    let failing =
        "*** Begin Patch\n*** Delete File: a.txt\n*** Update File: b.txt\n@@\n-no such line\n+x\n*** End Patch\n";
    let s = scripted([
        Step::custom_tool_call("apply_patch", good).call_id("good"),
        Step::custom_tool_call("apply_patch", failing).call_id("failing"),
        Step::custom_tool_call("apply_patch", "this is not a patch").call_id("malformed"),
        Step::message("done"),
    ])
    .await;
    let run = Run::new(&s.base_url(), "sandbox_mode = \"workspace-write\"", "");
    std::fs::write(run.workspace.join("a.txt"), "one\n").unwrap();
    std::fs::write(run.workspace.join("b.txt"), "two\n").unwrap();
    let out = run.exec(&["edit"]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    let requests = s.model_requests().await;

    let item = output_item(&requests, "good");
    assert_eq!(item["type"], "custom_tool_call_output");
    assert!(item["output"].as_str().unwrap().ends_with("Success. Updated the following files:\nA notes.md\nM a.txt\n"));
    assert_eq!(std::fs::read_to_string(run.workspace.join("a.txt")).unwrap(), "uno\n");

    let failing = output_text(&requests, "failing");
    assert!(failing.contains("Failed to find expected lines in "), "{failing}");
    assert!(failing.contains("no such line"), "names the hunk that failed: {failing}");
    assert_eq!(
        std::fs::read_to_string(run.workspace.join("a.txt")).unwrap(),
        "uno\n",
        "the delete before the failing hunk was not applied"
    );
    let malformed = output_text(&requests, "malformed");
    assert!(malformed.contains("The first line of the patch must be '*** Begin Patch'"), "{malformed}");

    let changes: Vec<&Value> =
        out.of_type("item.completed").into_iter().filter(|e| e["item"]["type"] == "file_change").collect();
    assert_eq!(changes.len(), 1, "only the patch that wrote is a file change: {}", out.stdout);
    assert_eq!(changes[0]["item"]["status"], "completed");
    let changed: Vec<(String, &str)> = changes[0]["item"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["path"].as_str().unwrap().rsplit('/').next().unwrap().to_string(), c["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(changed, [("a.txt".to_string(), "update"), ("notes.md".to_string(), "add")], "sorted by path");
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_command_applies_a_heredoc_patch_itself_and_runs_anything_else() {
    let heredoc =
        |prefix: &str, body: &str| format!("{prefix}apply_patch <<'EOF'\n*** Begin Patch\n{body}*** End Patch\nEOF\n");
    let exec = |cmd: String, id: &str| call("exec_command", json!({ "cmd": cmd }), id);
    let s = scripted([
        exec(heredoc("", "*** Add File: notes.md\n+# Notes\n"), "plain"),
        exec(heredoc("cd sub && ", "*** Update File: a.txt\n@@\n-one\n+uno\n"), "cd"),
        exec(heredoc("", "*** Update File: notes.md\n@@\n-no such line\n+x\n"), "refused"),
        exec("*** Begin Patch\n*** Add File: bare.txt\n+b\n*** End Patch\n".into(), "bare"),
        exec(heredoc("echo first && ", "*** Add File: shell.txt\n+s\n"), "shell"),
        Step::message("done"),
    ])
    .await;
    let run = Run::new(&s.base_url(), "sandbox_mode = \"workspace-write\"", "");
    std::fs::create_dir(run.workspace.join("sub")).unwrap();
    std::fs::write(run.workspace.join("sub/a.txt"), "one\n").unwrap();
    let out = run.exec(&["edit"]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    let requests = s.model_requests().await;

    let plain = output_text(&requests, "plain");
    assert!(plain.starts_with("Wall time: 0.0000 seconds\nOutput:\nExit code: 0\nWall time: "), "{plain}");
    assert!(plain.ends_with("\nOutput:\nSuccess. Updated the following files:\nA notes.md\n"), "{plain}");
    assert_eq!(std::fs::read_to_string(run.workspace.join("notes.md")).unwrap(), "# Notes\n");
    assert!(output_text(&requests, "cd").ends_with("M a.txt\n"));
    assert_eq!(std::fs::read_to_string(run.workspace.join("sub/a.txt")).unwrap(), "uno\n", "applied in sub/");
    let refused = output_text(&requests, "refused");
    assert!(refused.starts_with("apply_patch verification failed: Failed to find expected lines in "), "{refused}");
    assert_eq!(
        output_text(&requests, "bare"),
        "apply_patch verification failed: patch detected without explicit call to apply_patch. Rerun as \
         [\"apply_patch\", \"<patch>\"]"
    );
    assert!(!run.workspace.join("bare.txt").exists());
    let shell = stable(&output_text(&requests, "shell"));
    assert!(shell.starts_with("Process exited with code 127\n"), "run by bash, which has no apply_patch: {shell}");
    assert!(shell.contains("first\n") && !run.workspace.join("shell.txt").exists(), "{shell}");

    let kinds: Vec<&str> = out.of_type("item.completed").iter().filter_map(|e| e["item"]["type"].as_str()).collect();
    assert_eq!(
        kinds,
        ["file_change", "file_change", "command_execution", "agent_message"],
        "applied patches are file changes, not commands: {}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn view_image_request_user_input_and_tools_not_offered() {
    let s = scripted([
        Step::reply()
            .then_function_call("view_image", json!({"path": "checkerboard.png"}))
            .call_id("ok")
            .then_function_call("view_image", json!({"path": "missing.png"}))
            .call_id("missing")
            .then_function_call("view_image", json!({"path": "notes.txt"}))
            .call_id("text")
            .then_function_call("view_image", json!({}))
            .call_id("noargs")
            .then_function_call("request_user_input", json!({"questions": []}))
            .call_id("ask")
            .then_function_call("update_plan", json!({"plan": []}))
            .call_id("plan"),
        Step::message("done"),
    ])
    .await;
    let run = Run::new(&s.base_url(), "", "");
    std::fs::copy(
        parity_e2e::repo().join("fixtures/scenarios/files/checkerboard.png"),
        run.workspace.join("checkerboard.png"),
    )
    .unwrap();
    std::fs::write(run.workspace.join("notes.txt"), "plain text\n").unwrap();
    let out = run.exec(&["look"]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    let requests = s.model_requests().await;

    let image = &output_item(&requests, "ok")["output"][0];
    assert_eq!(image["type"], "input_image");
    assert_eq!(image["detail"], "original");
    assert!(image["image_url"].as_str().unwrap().starts_with("data:image/png;base64,iVBORw0KGgo"));
    let workspace = std::fs::canonicalize(&run.workspace).unwrap();
    assert_eq!(
        output_text(&requests, "missing"),
        format!(
            "unable to locate image at `{}/missing.png`: No such file or directory (os error 2)",
            workspace.display()
        )
    );
    assert_eq!(output_text(&requests, "text"), "unable to process image: invalid or unsupported image data");
    assert_eq!(
        output_text(&requests, "noargs"),
        "failed to parse function arguments: missing field `path` at line 1 column 2"
    );
    assert_eq!(output_text(&requests, "ask"), "request_user_input is unavailable in Default mode");
    assert_eq!(output_text(&requests, "plan"), "unsupported call: update_plan", "gpt-5.5 is not offered update_plan");
}

#[tokio::test(flavor = "multi_thread")]
async fn goals_are_kept_for_the_thread() {
    let s = scripted([
        call("create_goal", json!({"objective": "Ship the parser"}), "create"),
        call("create_goal", json!({"objective": "Another"}), "again"),
        call("update_goal", json!({"status": "paused"}), "pause"),
        call("update_goal", json!({"status": "complete"}), "complete"),
        call("get_goal", json!({}), "get"),
        Step::message("done"),
    ])
    .await;
    let run = Run::new(&s.base_url(), "", "");
    let out = run.exec(&["set a goal"]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    let requests = s.model_requests().await;
    let thread = out.of_type("thread.started")[0]["thread_id"].clone();

    let created: Value = serde_json::from_str(&output_text(&requests, "create")).unwrap();
    assert_eq!(created["goal"]["threadId"], thread);
    assert_eq!(created["goal"]["status"], "active");
    let after_create = requests[1].request.input();
    assert_eq!(after_create.last().unwrap()["name"], "goal_objective", "the objective follows the new goal's output");
    assert!(
        output_text(&requests, "again")
            .starts_with("cannot create a new goal because this thread has an unfinished goal")
    );
    assert!(
        output_text(&requests, "pause").starts_with("update_goal can only mark the existing goal complete or blocked")
    );
    let got: Value = serde_json::from_str(&output_text(&requests, "get")).unwrap();
    assert_eq!(got["goal"]["status"], "complete");
    // Counted when the goal is completed: the responses after the one that created it, the completing one included.
    assert_eq!(got["goal"]["tokensUsed"], 3 * 1230);
}

/// Writes through a command in each sandbox mode (in the workspace, outside it, in /tmp) and a connection to the
/// server.
#[tokio::test(flavor = "multi_thread")]
async fn sandbox_modes_are_enforced_on_commands_and_patches() {
    for (mode, inside, outside, tmp) in [
        ("read-only", false, false, false),
        ("workspace-write", true, false, true),
        ("danger-full-access", true, true, true),
    ] {
        let tmp_file = format!("/tmp/rcodex-e2e-{}-{mode}", std::process::id());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = port.local_addr().unwrap().port();
        let _ = std::fs::remove_file(&tmp_file);
        let write = |path: &str| json!({"cmd": format!("echo x > {path}")});
        let s = scripted([
            Step::reply()
                .then_function_call(
                    "exec_command",
                    json!({"cmd": format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected")}),
                )
                .call_id("network")
                .then_function_call("exec_command", write("inside.txt"))
                .call_id("inside")
                .then_function_call("exec_command", write("../outside.txt"))
                .call_id("outside")
                .then_function_call("exec_command", write(&tmp_file))
                .call_id("tmp"),
            Step::custom_tool_call("apply_patch", "*** Begin Patch\n*** Add File: ../patched.txt\n+x\n*** End Patch\n")
                .call_id("patch"),
            Step::message("done"),
        ])
        .await;
        let run = Run::new(&s.base_url(), &format!("sandbox_mode = \"{mode}\""), "");
        let out = run.exec(&["write files"]).await;
        assert_eq!(out.code, Some(0), "{mode}: {}", out.explain());
        let requests = s.model_requests().await;
        let parent = run.workspace.parent().unwrap();
        for (call_id, allowed, path) in [
            ("inside", inside, run.workspace.join("inside.txt")),
            ("outside", outside, parent.join("outside.txt")),
            ("tmp", tmp, tmp_file.clone().into()),
        ] {
            let text = output_text(&requests, call_id);
            assert_eq!(path.exists(), allowed, "{mode}: {call_id}: {text}");
            if !allowed {
                assert!(text.contains("Read-only file system"), "{mode}: {call_id} is refused by the kernel: {text}");
            }
        }
        let network = output_text(&requests, "network");
        assert_eq!(network.contains("Output:\nconnected"), mode == "danger-full-access", "{mode}: {network}");
        let patched = parent.join("patched.txt").exists();
        assert_eq!(patched, mode == "danger-full-access", "{mode}: {}", output_text(&requests, "patch"));
        let _ = std::fs::remove_file(&tmp_file);
    }
}

/// A sandboxed command that fails at once in a way that reads as the sandbox's refusal is told to the model but shown
/// as no item. Upstream 0.169.0, run by hand on variations of the sandbox-read-only scenario (read-only and
/// workspace-write, exec and the app server under on-request), showed no item for a command that ended within its
/// 150 ms grace period with a non-zero exit and `Read-only file system`, `Permission denied`, `Operation not
/// permitted`, `sandbox`... in its output (whatever the exit code, 2 and 126 included), or killed by SIGSYS; it showed
/// the usual items for the same failure without those words, for one that succeeded whatever it printed, for one that
/// ended later (`sleep 0.2; ...`), and for any command under danger-full-access.
#[tokio::test(flavor = "multi_thread")]
async fn a_command_the_sandbox_refused_is_told_to_the_model_but_not_shown() {
    let s = scripted([
        Step::reply()
            .then_function_call("exec_command", json!({"cmd": "echo data > created.txt && cat created.txt"}))
            .call_id("refused")
            .then_function_call("exec_command", json!({"cmd": "echo Read-only file system; exit 2"}))
            .call_id("words")
            .then_function_call("exec_command", json!({"cmd": "echo hi; exit 3"}))
            .call_id("failed")
            .then_function_call("exec_command", json!({"cmd": "echo permission denied"}))
            .call_id("succeeded")
            .then_function_call("exec_command", json!({"cmd": "sleep 0.3; echo operation not permitted; exit 1"}))
            .call_id("late"),
        Step::message("done"),
    ])
    .await;
    let run = Run::new(&s.base_url(), "sandbox_mode = \"read-only\"", "");
    let out = run.exec(&["write a file"]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    let requests = s.model_requests().await;
    assert_eq!(
        stable(&output_text(&requests, "refused")),
        "Process exited with code 1\nOriginal token count: 14\nOutput:\n/bin/bash: line 1: created.txt: Read-only file system\n"
    );
    assert!(output_text(&requests, "refused").contains("\nWall time: 0.0000 seconds\n"));
    assert!(stable(&output_text(&requests, "words")).starts_with("Process exited with code 2\n"));

    // The calls run at once: their items come in any order.
    let mut shown: Vec<String> = out
        .of_type("item.started")
        .into_iter()
        .filter(|e| e["item"]["type"] == "command_execution")
        .map(|e| e["item"]["command"].as_str().unwrap().to_string())
        .collect();
    shown.sort();
    assert_eq!(
        shown,
        [
            "/bin/bash -lc 'echo hi; exit 3'",
            "/bin/bash -lc 'echo permission denied'",
            "/bin/bash -lc 'sleep 0.3; echo operation not permitted; exit 1'"
        ],
        "only the commands upstream shows"
    );
    let completed =
        out.of_type("item.completed").into_iter().filter(|e| e["item"]["type"] == "command_execution").count();
    assert_eq!(completed, 3);
}
