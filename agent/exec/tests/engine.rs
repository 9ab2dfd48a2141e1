//! The engine against real processes and PTYs: sessions, concurrency, and that nothing it started survives it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use rcodex_exec::{ExecError, ExecManager, ExecOutput, ExecRequest, MAX_SESSIONS, WriteRequest};
use tokio::time::{Instant, timeout};

const LIMIT: Duration = Duration::from_secs(30);

fn bash(cmd: &str, tty: bool, yield_ms: u64) -> ExecRequest {
    let mut request = ExecRequest::new(vec!["/bin/bash".into(), "-c".into(), cmd.into()], std::env::temp_dir());
    request.env = HashMap::from([("PATH".to_string(), "/usr/bin:/bin".to_string())]);
    request.tty = tty;
    request.yield_time = Duration::from_millis(yield_ms);
    request
}

fn poll(session_id: i32, chars: &str, yield_ms: u64) -> WriteRequest {
    WriteRequest {
        session_id,
        chars: chars.into(),
        yield_time: Duration::from_millis(yield_ms),
        max_output_tokens: 10_000,
    }
}

/// The pids a command printed, one per line.
fn pids(output: &ExecOutput) -> Vec<i32> {
    output.text().split_whitespace().filter_map(|word| word.parse().ok()).collect()
}

/// Whether `pid` is a live process (a zombie is not).
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])))
        .is_some_and(|dead| !dead)
}

/// Whether `pid` exists at all: a zombie child of ours would.
fn exists(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_pty_session_echoes_input_with_crlf() {
    timeout(LIMIT, async {
        let manager = ExecManager::new();
        let started = manager.exec_command(bash("read -r name; echo \"hello, $name\"", true, 500)).await.unwrap();
        let id = started.session_id.expect("waiting for input");
        assert_eq!(started.exit_code, None);
        let answered = manager.write_stdin(poll(id, "Ada\n", 2000)).await.unwrap();
        assert_eq!(answered.text(), "Ada\r\nhello, Ada\r\n");
        assert_eq!((answered.exit_code, answered.session_id), (Some(0), None));
        assert_eq!(manager.write_stdin(poll(id, "", 0)).await.unwrap_err(), ExecError::UnknownSession(id));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_command_exiting_early_returns_before_the_yield_time() {
    timeout(LIMIT, async {
        let manager = ExecManager::new();
        let begun = Instant::now();
        let output = manager.exec_command(bash("echo out; echo err >&2; exit 7", false, 30_000)).await.unwrap();
        assert!(begun.elapsed() < Duration::from_secs(2), "took {:?}", begun.elapsed());
        assert_eq!(output.exit_code, Some(7));
        assert_eq!(output.text(), "out\nerr\n");
        assert!(manager.session_ids().is_empty());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_and_stderr_keep_the_order_the_command_wrote_them_in() {
    timeout(LIMIT, async {
        let manager = ExecManager::new();
        let script = "for i in $(seq 1 200); do echo \"out $i\"; echo \"err $i\" >&2; done";
        let output = manager.exec_command(bash(script, false, 10_000)).await.unwrap();
        let expected: String = (1..=200).map(|i| format!("out {i}\nerr {i}\n")).collect();
        assert_eq!(output.text(), expected);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn terminate_all_kills_sessions_that_ignore_sigterm_and_their_grandchildren_without_zombies() {
    timeout(LIMIT, async {
        let manager = ExecManager::new();
        let mut children = Vec::new();
        for tty in [false, true] {
            let output = manager
                .exec_command(bash("trap '' TERM HUP INT; sleep 60 & echo $$ $!; sleep 60", tty, 500))
                .await
                .unwrap();
            assert!(output.session_id.is_some());
            children.push(pids(&output));
        }
        for pids in &children {
            assert!(pids.iter().all(|&pid| running(pid)), "{pids:?} run before");
        }
        manager.terminate_all().await;
        assert!(manager.session_ids().is_empty());
        for pids in &children {
            // The direct child is reaped (no zombie left); the grandchild, re-parented, is at least dead.
            assert!(!exists(pids[0]), "child {} reaped", pids[0]);
            eventually("the grandchild dies", || !running(pids[1])).await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn dropping_the_manager_kills_its_sessions() {
    timeout(LIMIT, async {
        let manager = ExecManager::new();
        let output = manager.exec_command(bash("sleep 60 & echo $$ $!; sleep 60", false, 300)).await.unwrap();
        let pids = pids(&output);
        drop(manager);
        eventually("the child is reaped", || !exists(pids[0])).await;
        eventually("the grandchild dies", || !running(pids[1])).await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_finished_commands_background_grandchild_is_killed() {
    timeout(LIMIT, async {
        let manager = ExecManager::new();
        let output = manager.exec_command(bash("sleep 60 & echo $!", false, 5000)).await.unwrap();
        assert_eq!(output.exit_code, Some(0));
        // The grandchild keeps the output open: upstream waits 50 ms for it after the exit, not the yield time.
        assert!(output.wall_time < Duration::from_secs(1), "{:?}", output.wall_time);
        let grandchild = pids(&output)[0];
        eventually("the grandchild dies", || !running(grandchild)).await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn an_interrupted_call_leaves_its_session_running() {
    timeout(LIMIT, async {
        let manager = ExecManager::new();
        let call = manager.exec_command(bash("echo $$; sleep 60", false, 10_000));
        assert!(timeout(Duration::from_millis(600), call).await.is_err(), "still waiting for output");
        let ids = manager.session_ids();
        assert_eq!(ids.len(), 1);
        let output = manager.write_stdin(poll(ids[0], "\u{3}", 1000)).await.unwrap();
        // The output before the interruption was not read by anyone: this call gets it, and SIGINT ends the group.
        assert_eq!((output.exit_code, output.session_id), (Some(130), None));
        assert!(!exists(pids(&output)[0]));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_sessions_at_once_are_capped_and_the_evicted_are_killed() {
    timeout(LIMIT, async {
        let manager = Arc::new(ExecManager::new());
        let total = MAX_SESSIONS + 6;
        let calls: Vec<_> = (0..total)
            .map(|_| {
                let manager = manager.clone();
                tokio::spawn(async move { manager.exec_command(bash("echo $$; sleep 60", false, 250)).await })
            })
            .collect();
        let mut outputs = Vec::new();
        for call in calls {
            // A session evicted while its own call still waits makes that call fail: never more than the excess.
            if let Ok(output) = call.await.unwrap() {
                outputs.push(output);
            }
        }
        let ids: HashSet<i32> = outputs.iter().filter_map(|output| output.session_id).collect();
        assert!(outputs.len() >= MAX_SESSIONS && ids.len() == outputs.len(), "distinct ids for every running session");
        assert!(ids.iter().all(|id| (1000..100_000).contains(id)));
        let held: HashSet<i32> = manager.session_ids().into_iter().collect();
        assert_eq!(held.len(), MAX_SESSIONS);
        for output in &outputs {
            let pid = pids(output)[0];
            if !held.contains(&output.session_id.unwrap()) {
                eventually("an evicted session's process dies", || !running(pid)).await;
            }
        }
        let live: Vec<i32> =
            outputs.iter().filter(|o| held.contains(&o.session_id.unwrap())).map(|o| pids(o)[0]).collect();
        assert!(live.iter().all(|&pid| running(pid)));
        manager.terminate_all().await;
        assert!(live.iter().all(|&pid| !exists(pid)), "every child reaped");
    })
    .await
    .unwrap();
}
