use super::*;

fn run(status: Status, items: Vec<Value>) -> Run {
    Run { status, items, notes: Vec::new() }
}

#[test]
fn a_completed_script_reads_header_then_items() {
    let out = output(
        &run(Status::Completed, vec![input_text("a".into()), input_text("b".into())]),
        None,
        Duration::from_millis(140),
    );
    assert_eq!(
        out,
        json!([
            {"type": "input_text", "text": "Script completed\nWall time 0.1 seconds\nOutput:\n"},
            {"type": "input_text", "text": "a"},
            {"type": "input_text", "text": "b"},
        ])
    );
}

#[test]
fn a_header_alone_goes_as_a_string_and_an_error_comes_last() {
    let out = output(&run(Status::Running("2".into()), Vec::new()), None, Duration::from_millis(460));
    assert_eq!(out, json!("Script running with cell ID 2\nWall time 0.5 seconds\nOutput:\n"));
    let out = output(&run(Status::Failed("exec cell 9 not found".into()), Vec::new()), None, Duration::ZERO);
    assert_eq!(out[1]["text"], "Script error:\nexec cell 9 not found");
    assert_eq!(out[0]["text"], "Script failed\nWall time 0.0 seconds\nOutput:\n");
}

#[test]
fn texts_over_the_budget_become_one_cut_text() {
    let long = input_text("word ".repeat(300));
    let out = output(&run(Status::Completed, vec![long]), Some(20), Duration::ZERO);
    let text = out[1]["text"].as_str().unwrap();
    assert!(
        text.starts_with("Warning: truncated output (original token count: 375)\nTotal output lines: 1\n\n"),
        "{text}"
    );
    assert!(text.contains("…355 tokens truncated…"), "{text}");
    let image = json!({"type": "input_image", "image_url": "data:image/png;base64,AA=="});
    let out = truncate(vec![input_text("x".repeat(100)), image.clone(), input_text("y".repeat(100))], 10);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1], image);
}

#[test]
fn notes_follow_the_output_under_the_exec_call() {
    let answer = answer(json!({"type": "function_call_output"}), "call_exec", vec!["hi".into()]);
    assert_eq!(answer[1]["type"], "custom_tool_call_output");
    assert_eq!(answer[1]["call_id"], "call_exec");
    assert_eq!(answer[1]["name"], "exec");
    assert_eq!(answer[1]["output"], "hi");
}

#[test]
fn nested_tools_come_from_the_exec_description() {
    let pack = rcodex_prompt_pack::embedded();
    let text = pack.text(&rcodex_prompt_pack::keys::additional_tools("gpt-5.6-sol", "restricted")).unwrap();
    let tools = nested_tools(&serde_json::from_str(text).unwrap());
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "apply_patch",
            "create_goal",
            "exec_command",
            "get_goal",
            "list_mcp_resource_templates",
            "list_mcp_resources",
            "read_mcp_resource",
            "update_goal",
            "view_image",
            "write_stdin"
        ]
    );
    assert!(tools[0].freeform && !tools[2].freeform);
    assert!(tools[8].description.starts_with("View a local image file"));
    assert!(tools[8].description.ends_with("}>; };\n```"));
}

/// Tools for a script, answered by the test: `echo` resolves with its input, `fail` rejects.
struct Echo;

impl NestedTools for Echo {
    async fn call_nested(&self, tool: &NestedTool, input: Option<Value>) -> Result<Value, String> {
        match tool.name.as_str() {
            "echo" => Ok(json!({"got": input})),
            _ => Err("it failed".into()),
        }
    }
}

fn echo_tools() -> Vec<NestedTool> {
    ["echo", "fail"]
        .iter()
        .map(|name| NestedTool { name: name.to_string(), description: format!("{name} it"), freeform: false })
        .collect()
}

fn texts(items: &[Value]) -> Vec<String> {
    match &items[0]["output"] {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items.iter().map(|i| i["text"].as_str().unwrap_or_default().to_string()).collect(),
        other => panic!("unexpected output {other}"),
    }
}

/// The real runtime in Node.js (which the machine must have: `node` on PATH), unsandboxed here: the launcher is
/// rcodex itself, which a unit test lacks (the scenarios run it sandboxed); with the test's tools and a directory.
fn code_mode() -> (CodeMode, PathBuf, Vec<NestedTool>) {
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(node.is_ok_and(|o| o.status.success()), "code mode's tests need Node.js (`node` on PATH)");
    (CodeMode::new(None), std::env::temp_dir(), echo_tools())
}

#[tokio::test]
async fn a_script_calls_tools_stores_values_and_fails_with_v8_text() {
    let (mode, cwd, tools) = code_mode();
    let script = "const r = await tools.echo({a: 1});\ntext(r);\ntry { await tools.fail() } catch (e) { text(e) }\nstore(\"k\", [1, 2]);\nnotify(\"note\");\n";
    let answer = mode.exec("call_1", script, &tools, &cwd, &Echo).await;
    assert_eq!(texts(&answer)[1..], ["{\"got\":{\"a\":1}}", "it failed"]);
    assert!(texts(&answer)[0].starts_with("Script completed\n"));
    assert_eq!(answer[1]["output"], "note");
    let answer = mode.exec("call_2", "text(load(\"k\").length);\nnull.x;\n", &tools, &cwd, &Echo).await;
    let texts = texts(&answer);
    assert_eq!(texts[1], "2");
    assert_eq!(
        texts[2],
        "Script error:\nTypeError: Cannot read properties of null (reading 'x')\n    at exec_main.mjs:2:6"
    );
}

#[tokio::test]
async fn a_yielded_cell_is_waited_for_then_terminated() {
    let (mode, cwd, tools) = code_mode();
    let script = "text(\"before\");\nyield_control();\nawait new Promise(r => setTimeout(r, 200));\ntext(\"after\");\nawait new Promise(r => setTimeout(r, 60000));\n";
    let answer = mode.exec("call_1", script, &tools, &cwd, &Echo).await;
    assert!(texts(&answer)[0].starts_with("Script running with cell ID 1\nWall time "));
    assert_eq!(texts(&answer)[1..], ["before"]);
    let answer = mode.wait("call_2", r#"{"cell_id": "1", "yield_time_ms": 1000}"#, &tools, &Echo).await;
    assert_eq!(texts(&answer)[1..], ["after"]);
    // Output alone does not end a wait: it lasts its yield time.
    assert!(texts(&answer)[0].starts_with("Script running with cell ID 1\nWall time 1."));
    let answer = mode.wait("call_3", r#"{"cell_id": "1", "terminate": true}"#, &tools, &Echo).await;
    assert!(matches!(&answer[0]["output"], Value::String(text) if text.starts_with("Script terminated\n")));
    let answer = mode.wait("call_4", r#"{"cell_id": "1"}"#, &tools, &Echo).await;
    assert_eq!(texts(&answer)[1], "Script error:\nexec cell 1 not found");
}
