//! rcodex with a real MCP server: the repository's `parity-mcp-fixture` (rmcp, stdio) started from config.toml,
//! its tools found through tool_search and called by the model, the resource tools, failures (a tool error, a
//! timeout, an approval exec cannot give, an MCP error), and `rcodex mcp list|get|add|remove` against what upstream
//! 0.169.0's `codex mcp` printed and wrote when run by hand.

use parity_e2e::{Run, bin, output_item};
use parity_server::{ParityServer, Script, script::Syntax};
use serde_json::Value;

/// The output's texts (a string, or the texts of its content items), the wall time's header cut to its words.
fn texts(output: &Value) -> Vec<String> {
    let strip = |t: &str| {
        t.lines().map(|l| if l.starts_with("Wall time: ") { "Wall time" } else { l }).collect::<Vec<_>>().join("\n")
    };
    match &output["output"] {
        Value::String(text) => vec![strip(text)],
        Value::Array(items) => items
            .iter()
            .map(|i| match i["type"].as_str() {
                Some("input_image") => format!("image {}", i["image_url"].as_str().unwrap_or_default().len()),
                _ => strip(i["text"].as_str().unwrap_or_default()),
            })
            .collect(),
        other => panic!("an output of another shape: {other}"),
    }
}

async fn server(script: &str) -> ParityServer {
    let script = Script::parse(script, Syntax::Toml, "test script").expect("the test's script reads");
    ParityServer::scripted(script).start().await.expect("the server starts")
}

fn fixture_config(extra: &str) -> String {
    format!("[mcp_servers.fixture]\ncommand = {:?}\n{extra}", bin("parity-mcp-fixture").display().to_string())
}

const TOOLS_SCRIPT: &str = r#"
[[steps]]
output = [{ item = { type = "tool_search_call", id = "tsc_1", call_id = "search", status = "completed", execution = "client", arguments = { query = "sleep for some milliseconds" } } }]
[[steps]]
expect = { function_call_output = "search" }
output = [
  { function_call = { name = "echo", namespace = "mcp__fixture", arguments = { text = "hello" }, call_id = "echo" } },
  { function_call = { name = "weather", namespace = "mcp__fixture", arguments = { city = "Paris" }, call_id = "weather" } },
  { function_call = { name = "chart", namespace = "mcp__fixture", arguments = {}, call_id = "chart" } },
  { function_call = { name = "fail", namespace = "mcp__fixture", arguments = { reason = "on purpose" }, call_id = "fail" } },
  { function_call = { name = "sleep", namespace = "mcp__fixture", arguments = { ms = 5000 }, call_id = "sleep" } },
  { function_call = { name = "write_note", namespace = "mcp__fixture", arguments = { note = "n" }, call_id = "note" } },
  { function_call = { name = "nosuch", namespace = "mcp__fixture", arguments = {}, call_id = "nosuch" } },
]
[[steps]]
expect = { function_call_output = ["echo", "weather", "chart", "fail", "sleep", "note", "nosuch"] }
output = [
  { function_call = { name = "list_mcp_resources", arguments = {}, call_id = "list" } },
  { function_call = { name = "read_mcp_resource", arguments = { server = "fixture", uri = "fixture://notes.txt" }, call_id = "read" } },
  { function_call = { name = "read_mcp_resource", arguments = { server = "fixture", uri = "fixture://missing" }, call_id = "missing" } },
  { function_call = { name = "list_mcp_resource_templates", arguments = { server = "nope" }, call_id = "unknown" } },
]
[[steps]]
expect = { function_call_output = ["list", "read", "missing", "unknown"] }
output = [{ message = "done" }]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn mcp_tools_and_resources_through_a_real_stdio_server() {
    let s = server(TOOLS_SCRIPT).await;
    let run = Run::new(&s.base_url(), "", "");
    // Appended after the provider table: a table of its own.
    let config = run.home.join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("\n{}", fixture_config("tool_timeout_sec = 1\n")));
    std::fs::write(&config, text).unwrap();
    let out = run.exec(&["use the fixture"]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    let requests = s.model_requests().await;

    // The first request offers the resource tools and names the namespace; tool_search finds its tools.
    let first = &requests[0].request.body;
    let names: Vec<&str> = first["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(
        names.contains(&"list_mcp_resources") && names.contains(&"read_mcp_resource"),
        "{names:?} for model {} with config.toml:\n{written}",
        first["model"]
    );
    assert!(first.to_string().contains("- mcp__fixture"), "the context names the namespace");
    let found = &output_item(&requests, "search")["tools"][0];
    assert_eq!(found["name"], "mcp__fixture");
    let tools: Vec<&str> = found["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(tools[0], "sleep", "the best match first: {tools:?}");
    let sleep = &found["tools"][0];
    assert_eq!(sleep["parameters"]["properties"]["ms"], serde_json::json!({"type": "integer"}), "minimum dropped");

    assert_eq!(texts(&output_item(&requests, "echo")), ["Wall time\nOutput:", "hello"]);
    assert_eq!(
        texts(&output_item(&requests, "weather")),
        ["Wall time\nOutput:\n{\"city\":\"Paris\",\"celsius\":21,\"sky\":\"clear\"}"]
    );
    let chart = texts(&output_item(&requests, "chart"));
    assert_eq!(chart[..2], ["Wall time\nOutput:", "A chart of one red pixel."]);
    assert!(chart[2].starts_with("image "), "{chart:?}");
    assert_eq!(texts(&output_item(&requests, "fail")), ["Wall time\nOutput:", "fixture failure: on purpose"]);
    assert_eq!(
        texts(&output_item(&requests, "sleep")),
        [
            "Wall time\nOutput:",
            "tool call error: tool call failed for `fixture/sleep`\n\nCaused by:\n    timed out awaiting tools/call after 1000ms"
        ]
    );
    assert_eq!(
        texts(&output_item(&requests, "note")),
        ["Wall time\nOutput:", "MCP tool call requires approval, but approval policy is never"]
    );
    assert_eq!(texts(&output_item(&requests, "nosuch")), ["unsupported call: mcp__fixturenosuch"]);
    assert_eq!(
        texts(&output_item(&requests, "list")),
        [
            r#"{"resources":[{"server":"fixture","uri":"fixture://notes.txt","name":"notes","description":"The household notes.","mimeType":"text/plain"}]}"#
        ]
    );
    assert_eq!(
        texts(&output_item(&requests, "read")),
        [
            r#"{"server":"fixture","uri":"fixture://notes.txt","contents":[{"uri":"fixture://notes.txt","mimeType":"text/plain","text":"Water the plants on Tuesdays.\n"}]}"#
        ]
    );
    assert_eq!(
        texts(&output_item(&requests, "missing")),
        [
            "resources/read failed: resources/read failed for `fixture` (fixture://missing): Mcp error: -32002: no resource fixture://missing"
        ]
    );
    assert_eq!(texts(&output_item(&requests, "unknown")), ["unknown MCP server 'nope'"]);

    // exec --json: an mcp_tool_call item per call the server saw or refused, none for unknown tools and servers.
    let calls: Vec<&Value> =
        out.of_type("item.completed").into_iter().filter(|e| e["item"]["type"] == "mcp_tool_call").collect();
    let by_tool = |tool: &str| calls.iter().find(|e| e["item"]["tool"] == tool).map(|e| &e["item"]);
    let echo = by_tool("echo").expect("echo's item");
    assert_eq!((echo["server"].as_str(), echo["status"].as_str()), (Some("fixture"), Some("completed")));
    assert_eq!(echo["result"]["content"][0]["text"], "hello");
    assert_eq!(by_tool("weather").unwrap()["result"]["structured_content"]["celsius"], 21);
    assert_eq!(by_tool("fail").unwrap()["status"], "failed", "isError fails the item");
    assert!(by_tool("sleep").unwrap()["error"]["message"].as_str().unwrap().contains("timed out"));
    assert_eq!(by_tool("list_mcp_resources").unwrap()["server"], "codex");
    assert_eq!(by_tool("read_mcp_resource").unwrap()["server"], "fixture");
    assert!(by_tool("nosuch").is_none() && by_tool("list_mcp_resource_templates").is_none());
    assert_eq!(calls.len(), 9, "{calls:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_cannot_start_leaves_the_turn_running() {
    let s = server(
        r#"
[[steps]]
output = [{ item = { type = "tool_search_call", id = "tsc_1", call_id = "search", status = "completed", execution = "client", arguments = { query = "echo" } } }]
[[steps]]
expect = { function_call_output = "search" }
output = [{ message = "nothing found" }]
"#,
    )
    .await;
    let run = Run::new(&s.base_url(), "", "");
    let config = run.home.join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[mcp_servers.broken]\ncommand = \"/nonexistent/mcp-server\"\n");
    std::fs::write(&config, text).unwrap();
    let out = run.exec(&["search"]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    let requests = s.model_requests().await;
    let found = output_item(&requests, "search");
    assert!(found["tools"].as_array().unwrap().iter().all(|t| t["name"] != "mcp__broken"), "{found}");
}

/// What upstream 0.169.0 printed and wrote for the same commands (`codex mcp ...` with a fresh CODEX_HOME).
const UPSTREAM_CONFIG_AFTER_ADDS: &str = r#"[mcp_servers.docs]
command = "/bin/docs-server"
args = ["--port", "3"]

[mcp_servers.docs.env]
A = "1"
B = "two"

[mcp_servers.web]
url = "https://example.com/mcp"
bearer_token_env_var = "TOKEN"
"#;

const UPSTREAM_LIST: &str = "\
Name  Command           Args      Env               Cwd  Status   Auth       
docs  /bin/docs-server  --port 3  A=*****, B=*****  -    enabled  Unsupported

Name  Url                      Bearer Token Env Var  Status   Auth        
web   https://example.com/mcp  TOKEN                 enabled  Bearer token
";

const UPSTREAM_GET: &str = "\
docs
  enabled: true
  transport: stdio
  command: /bin/docs-server
  args: --port 3
  cwd: -
  env: A=*****, B=*****
  remove: codex mcp remove docs
";

#[test]
fn mcp_subcommands_edit_config_toml_as_upstream_does() {
    let home = tempfile::tempdir().unwrap();
    let rcodex = |args: &[&str]| {
        let out = std::process::Command::new(bin("rcodex"))
            .args(args)
            .env("CODEX_HOME", home.path())
            .output()
            .expect("rcodex runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(
        rcodex(&["mcp", "list"]).1,
        "No MCP servers configured yet. Try `codex mcp add my-tool -- my-command`.\n"
    );
    let added =
        rcodex(&["mcp", "add", "docs", "--env", "A=1", "--env", "B=two", "--", "/bin/docs-server", "--port", "3"]);
    assert_eq!((added.0, added.1.as_str()), (Some(0), "Added global MCP server 'docs'.\n"));
    rcodex(&["mcp", "add", "web", "--url", "https://example.com/mcp", "--bearer-token-env-var", "TOKEN"]);
    let config = std::fs::read_to_string(home.path().join("config.toml")).unwrap();
    assert_eq!(config, UPSTREAM_CONFIG_AFTER_ADDS);
    assert_eq!(rcodex(&["mcp", "list"]).1, UPSTREAM_LIST);
    assert_eq!(rcodex(&["mcp", "get", "docs"]).1, UPSTREAM_GET);
    let json: Value = serde_json::from_str(&rcodex(&["mcp", "get", "docs", "--json"]).1).unwrap();
    assert_eq!(json["transport"]["env"]["B"], "two");
    assert_eq!(json["enabled_tools"], Value::Null);
    let listed: Value = serde_json::from_str(&rcodex(&["mcp", "list", "--json"]).1).unwrap();
    assert_eq!(listed[1]["auth_status"], "bearer_token");

    let missing = rcodex(&["mcp", "get", "nope"]);
    assert_eq!(missing.0, Some(1));
    assert!(missing.2.starts_with("Error: No MCP server named 'nope' found."), "{}", missing.2);
    let bad = rcodex(&["mcp", "add", "bad name", "--", "x"]);
    assert_eq!(bad.0, Some(1));
    assert!(bad.2.contains("invalid server name 'bad name'"), "{}", bad.2);
    assert_eq!(rcodex(&["mcp", "add", "foo"]).0, Some(2), "neither a command nor --url");

    assert_eq!(rcodex(&["mcp", "remove", "docs"]).1, "Removed global MCP server 'docs'.\n");
    assert_eq!(rcodex(&["mcp", "remove", "docs"]).1, "No MCP server named 'docs' found.\n");
    let config = std::fs::read_to_string(home.path().join("config.toml")).unwrap();
    assert_eq!(config, "[mcp_servers.web]\nurl = \"https://example.com/mcp\"\nbearer_token_env_var = \"TOKEN\"\n");
}

#[test]
fn adding_a_server_keeps_the_rest_of_config_toml_and_rewrites_servers_in_upstream_s_order() {
    let home = tempfile::tempdir().unwrap();
    // As upstream rewrote this file for `codex mcp add b -- prog`.
    let before = "model = \"x\"\n\n[mcp_servers.a]\ncommand = \"srv\"\ncwd = \"/tmp\"\nenv_vars = [\"HOME\"]\nstartup_timeout_sec = 5\ntool_timeout_sec = 7.5\nenabled = false\nenabled_tools = [\"x\"]\n";
    let upstream_after = "model = \"x\"\n\n[mcp_servers.a]\ncommand = \"srv\"\nenv_vars = [\"HOME\"]\ncwd = \"/tmp\"\nenabled = false\nstartup_timeout_sec = 5.0\ntool_timeout_sec = 7.5\nenabled_tools = [\"x\"]\n\n[mcp_servers.b]\ncommand = \"prog\"\n";
    std::fs::write(home.path().join("config.toml"), before).unwrap();
    let out = std::process::Command::new(bin("rcodex"))
        .args(["mcp", "add", "b", "--", "prog"])
        .env("CODEX_HOME", home.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(home.path().join("config.toml")).unwrap(), upstream_after);
    let list = std::process::Command::new(bin("rcodex"))
        .args(["mcp", "get", "a"])
        .env("CODEX_HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&list.stdout), "a (disabled)\n");
}
