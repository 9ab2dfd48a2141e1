//! A small agent that speaks the Responses API, for the recorder's own tests.
//!
//! It takes Codex's command line (`exec [resume --last] [--json] PROMPT`), reads `CODEX_HOME/config.toml` for the
//! model provider, streams each model request, runs `exec_command` calls with `/bin/sh -c`, and stops at the first
//! answer without tool calls. Its first developer message reports the environment it runs in, so that tests can
//! check what leaked into it. Two prompts do something else: `hang` sleeps (to test timeouts), and `spawn-orphan`
//! leaves a background process behind and prints its pid (to test clean-up).
//!
//! `app-server` makes it speak the app-server protocol instead (see [`app_server`]).

mod app_server;

use std::time::Duration;

use futures_util::StreamExt;
use parity_capture::sse::SseParser;
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("parity-fake-agent: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "app-server") {
        return app_server::run(&args[1..]).await;
    }
    let resume = args.iter().any(|a| a == "resume");
    let json_events = args.iter().any(|a| a == "--json");
    let prompt =
        args.iter().rev().find(|a| !a.starts_with('-') && *a != "exec" && *a != "resume").cloned().unwrap_or_default();
    let codex_home = std::path::PathBuf::from(std::env::var("CODEX_HOME").map_err(|_| "CODEX_HOME is not set")?);

    match prompt.as_str() {
        "hang" => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return Ok(());
        }
        "spawn-orphan" => {
            let child = std::process::Command::new("/bin/sleep").arg("300").spawn().map_err(|e| e.to_string())?;
            println!("{{\"orphan_pid\": {}}}", child.id());
            return Ok(());
        }
        _ => {}
    }

    let config: toml::Table = toml::from_str(
        &std::fs::read_to_string(codex_home.join("config.toml")).map_err(|e| format!("config.toml: {e}"))?,
    )
    .map_err(|e| format!("config.toml: {e}"))?;
    let provider_name = config["model_provider"].as_str().ok_or("no model_provider")?;
    let provider = &config["model_providers"][provider_name];
    let base_url = provider["base_url"].as_str().ok_or("no base_url")?;
    let key = std::env::var(provider["env_key"].as_str().ok_or("no env_key")?).unwrap_or_default();
    let model = config["model"].as_str().unwrap_or("unknown");

    // A session survives between turns in CODEX_HOME, as Codex's does.
    let session_file = codex_home.join("fake-agent-session.json");
    let (thread_id, mut input) = if resume {
        let saved: Value =
            serde_json::from_str(&std::fs::read_to_string(&session_file).map_err(|e| format!("resume: {e}"))?)
                .map_err(|e| e.to_string())?;
        (
            saved["thread_id"].as_str().unwrap_or_default().to_string(),
            saved["input"].as_array().cloned().unwrap_or_default(),
        )
    } else {
        let id = format!("fake-{}-{}", std::process::id(), jiff::Timestamp::now().as_nanosecond());
        let environment: serde_json::Map<String, Value> = std::env::vars().map(|(k, v)| (k, json!(v))).collect();
        let report = json!({"cwd": std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(), "env": environment});
        (
            id,
            vec![
                json!({"type": "message", "role": "developer", "content": [{"type": "input_text", "text": report.to_string()}]}),
            ],
        )
    };
    if json_events {
        println!("{}", json!({"type": "thread.started", "thread_id": thread_id}));
    }
    input.push(json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": prompt}]}));

    let client = reqwest::Client::new();
    loop {
        let body = json!({"model": model, "stream": true, "input": input});
        let response = client
            .post(format!("{base_url}/responses"))
            .header("authorization", format!("Bearer {key}"))
            .header("thread-id", &thread_id)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("request: {e}"))?;
        if !response.status().is_success() {
            let status = response.status();
            return Err(format!("the model answered {status}: {}", response.text().await.unwrap_or_default()));
        }
        let mut items = Vec::new();
        let mut parser = SseParser::new();
        let mut chunks = response.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            for frame in parser.push(&chunk.map_err(|e| format!("stream: {e}"))?) {
                let event = frame.data_value();
                if event["type"] == "response.output_item.done" {
                    items.push(event["item"].clone());
                }
            }
        }
        let mut called = false;
        for item in items {
            input.push(item.clone());
            match item["type"].as_str() {
                Some("function_call") if item["name"] == "exec_command" => {
                    called = true;
                    let arguments: Value =
                        serde_json::from_str(item["arguments"].as_str().unwrap_or("{}")).unwrap_or_default();
                    let output = std::process::Command::new("/bin/sh")
                        .args(["-c", arguments["cmd"].as_str().unwrap_or("true")])
                        .output()
                        .map_err(|e| e.to_string())?;
                    let text = String::from_utf8_lossy(&output.stdout).into_owned();
                    input.push(json!({"type": "function_call_output", "call_id": item["call_id"], "output": text}));
                }
                Some("message") => {
                    let text = item["content"][0]["text"].as_str().unwrap_or_default().to_string();
                    if json_events {
                        println!(
                            "{}",
                            json!({"type": "item.completed", "item": {"type": "agent_message", "text": text}})
                        );
                    } else {
                        println!("{text}");
                    }
                }
                _ => {}
            }
        }
        if !called {
            break;
        }
    }
    std::fs::write(&session_file, json!({"thread_id": thread_id, "input": input}).to_string())
        .map_err(|e| e.to_string())?;
    if json_events {
        println!("{}", json!({"type": "turn.completed"}));
    }
    Ok(())
}
