//! The exec frontend: a process per turn, `exec PROMPT` then `exec resume --last PROMPT`, stdin closed; each turn's
//! stdout, stderr and JSONL events kept in `turn-N/`.

use std::process::Stdio;
use std::time::Instant;

use parity_capture::store::write_atomic;
use tokio::io::AsyncReadExt;

use super::{KILL_GRACE, RunContext, signal_group};
use crate::agent::TurnSpec;
use crate::run::{RecordError, TurnRecord, io_error};

/// Runs every prompt of the scenario as a turn of its own; stops after a turn that ran out of time.
pub async fn drive(cx: &RunContext<'_>) -> Result<Vec<TurnRecord>, RecordError> {
    let mut turns = Vec::new();
    for spec in cx.dirs.turns(cx.scenario, cx.base_url) {
        let turn = run_turn(cx, &spec).await?;
        let failed = turn.timed_out;
        turns.push(turn);
        if failed {
            break; // the session is in an unknown state: later turns would record noise
        }
    }
    Ok(turns)
}

async fn run_turn(cx: &RunContext<'_>, spec: &TurnSpec<'_>) -> Result<TurnRecord, RecordError> {
    let (agent, dirs, out) = (cx.agent, cx.dirs, cx.out);
    let timeout = cx.scenario.agent.timeout();
    let stdin = cx.scenario.agent.stdin.as_deref();
    let (program, args) = agent.command(spec);
    let mut command = tokio::process::Command::new(&program);
    command
        .args(&args)
        .current_dir(&dirs.workspace)
        .env_clear()
        .envs(dirs.env(spec.base_url, spec.turn))
        .envs(&cx.scenario.agent.env)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that everything it starts can be killed with it.
        .process_group(0)
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = command.spawn().map_err(|source| RecordError::Spawn { program: program.clone(), source })?;
    let group = child.id().map(|id| id as i32);
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let text = text.to_string();
        // Written beside the run, then closed, so that an agent reading to the end sees EOF.
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = pipe.write_all(text.as_bytes()).await;
        });
    }
    let stdout = tokio::spawn(read_all(child.stdout.take()));
    let stderr = tokio::spawn(read_all(child.stderr.take()));

    let (exit_code, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => (status.ok().and_then(|s| s.code()), false),
        Err(_) => {
            signal_group(group, libc::SIGTERM);
            if tokio::time::timeout(KILL_GRACE, child.wait()).await.is_err() {
                signal_group(group, libc::SIGKILL);
                let _ = child.wait().await;
            }
            (None, true)
        }
    };
    // Whatever the agent left running (a shell it spawned, a background job) goes with it.
    signal_group(group, libc::SIGKILL);
    let duration_ms = started.elapsed().as_millis() as u64;
    let stdout = stdout.await.unwrap_or_default();
    let stderr = stderr.await.unwrap_or_default();

    let dir = format!("turn-{}", spec.turn);
    let write = |name: &str, bytes: &[u8]| -> Result<String, RecordError> {
        let relative = format!("{dir}/{name}");
        let path = out.join(&relative);
        write_atomic(&path, bytes).map_err(io_error(&path))?;
        Ok(relative)
    };
    let events: Vec<&str> = std::str::from_utf8(&stdout)
        .unwrap_or_default()
        .lines()
        .filter(|line| line.starts_with('{') && serde_json::from_str::<serde_json::Value>(line).is_ok())
        .collect();
    Ok(TurnRecord {
        turn: spec.turn,
        prompt: spec.prompt.to_string(),
        program,
        args,
        exit_code,
        timed_out,
        duration_ms,
        stdout: write("stdout.txt", &stdout)?,
        stderr: write("stderr.txt", &stderr)?,
        events: if events.is_empty() {
            None
        } else {
            Some(write("events.jsonl", (events.join("\n") + "\n").as_bytes())?)
        },
        ..TurnRecord::default()
    })
}

async fn read_all(pipe: Option<impl tokio::io::AsyncRead + Unpin>) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_end(&mut bytes).await;
    }
    bytes
}
