//! One test per built-in rule, then user rules, explanations and the document view.

use std::path::Path;

use serde_json::{Value, json};

use super::*;
use crate::node::Node;
use crate::testing::{body_only, capture, recording};

fn norm(rec: &Recording) -> NormalizedRecording {
    normalize(rec, &RuleSet::builtin(), NormalizeOptions::default())
}

fn with_rules(rec: &Recording, toml: &str) -> NormalizedRecording {
    let rules = RuleSet::from_toml(toml, Path::new("rules.toml")).unwrap();
    normalize(rec, &rules, NormalizeOptions { explain: true, ..Default::default() })
}

/// The first request's normalized document as JSON.
fn doc(n: &NormalizedRecording) -> Value {
    n.requests[0].doc.to_value()
}

fn body(n: &NormalizedRecording) -> Value {
    doc(n)["body"].clone()
}

const V7: &str = "01a1fd00-ccb2-7660-a0fe-e2f1ded47a37";
const V7B: &str = "01a1fd00-ccd8-7552-98c4-552470054363";
const V4: &str = "402beeab-f14c-4ff3-9deb-0ca735c573e8";
const V5: &str = "0b6e68b3-4bc1-58e1-80cd-cc5ea7c08c0b";

#[test]
fn the_document_has_lowercase_headers_repeats_as_lists_and_the_body() {
    let rec =
        recording(vec![capture(1, 1, &[("Accept", "a"), ("X-Multi", "1"), ("x-multi", "2")], json!({"model": "m"}))]);
    let value = document(&rec.sessions[0].exchanges[0].capture.request);
    assert_eq!(
        value,
        json!({"method": "POST", "path": "/v1/responses", "headers": {"accept": "a", "x-multi": ["1", "2"]}, "body": {"model": "m"}})
    );
    let n = norm(&rec);
    assert_eq!(doc(&n)["headers"]["x-multi"], json!(["1", "2"]));
    assert_eq!(n.requests[0].file, "session-01/0001-post-responses.json");
    assert_eq!(n.requests[0].label, "POST /v1/responses");
}

#[test]
fn embedded_json_is_decoded_in_the_turn_metadata_client_metadata_and_arguments() {
    let meta = r#"{"turn_id":"x","sandbox":"seccomp"}"#;
    let rec = recording(vec![capture(
        1,
        1,
        &[("x-codex-turn-metadata", meta)],
        json!({
            "client_metadata": {"x-codex-turn-metadata": meta, "plain": "not json", "number": "42"},
            "input": [{"type": "function_call", "arguments": "{\"cmd\":\"ls\"}"}, {"type": "function_call", "arguments": "{broken"}],
        }),
    )]);
    let n = norm(&rec);
    let Node::Object(root) = &n.requests[0].doc else { panic!() };
    let headers = root.get("headers").unwrap();
    assert!(matches!(headers.get("x-codex-turn-metadata"), Some(Node::Embedded(_))));
    let d = doc(&n);
    assert_eq!(d["headers"]["x-codex-turn-metadata"]["sandbox"], "seccomp");
    assert_eq!(d["body"]["client_metadata"]["x-codex-turn-metadata"]["sandbox"], "seccomp");
    assert_eq!(d["body"]["client_metadata"]["x-codex-turn-metadata"]["turn_id"], "<id#1>");
    assert_eq!(d["body"]["client_metadata"]["plain"], "not json");
    assert_eq!(d["body"]["client_metadata"]["number"], "42", "only objects and arrays are decoded");
    assert_eq!(d["body"]["input"][0]["arguments"], json!({"cmd": "ls"}));
    assert_eq!(d["body"]["input"][1]["arguments"], "{broken");
}

#[test]
fn unordered_maps_are_sorted_and_marked() {
    let a = body_only(json!({"client_metadata": {"b": "1", "a": "2"}, "z": 1, "y": 2}));
    let n = norm(&a);
    let Node::Object(root) = &n.requests[0].doc else { panic!() };
    let Some(Node::Object(body)) = root.get("body") else { panic!() };
    let Some(Node::Object(meta)) = body.get("client_metadata") else { panic!() };
    assert!(meta.unordered && !body.unordered);
    let keys: Vec<&str> = meta.entries.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["a", "b"]);
    let body_keys: Vec<&str> = body.entries.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(body_keys, ["client_metadata", "z", "y"], "body keys keep the order sent");
    let Some(Node::Object(headers)) = root.get("headers") else { panic!() };
    assert!(headers.unordered);
}

#[test]
fn host_and_content_length_headers_are_fixed_and_user_agent_loses_versions_and_os() {
    let rec = recording(vec![capture(
        1,
        1,
        &[
            ("host", "127.0.0.1:41234"),
            ("content-length", "39224"),
            ("user-agent", "codex_exec/0.169.0 (Debian 12.0.0; x86_64) dumb (codex_exec; 0.169.0-alpha.2)"),
        ],
        json!({}),
    )]);
    let h = doc(&norm(&rec))["headers"].clone();
    assert_eq!(h["host"], "<host>");
    assert_eq!(h["content-length"], "<content-length>");
    assert_eq!(h["user-agent"], "codex_exec/<version> (<os>; x86_64) dumb (codex_exec; <version>)");
}

#[test]
fn paths_are_found_in_the_recording_and_replaced_longest_first() {
    let env = "<environment_context>\n  <cwd>/tmp/tmp.AbCdEf1234/work</cwd>\n  <filesystem><workspace_roots><root>/tmp/tmp.AbCdEf1234/work</root></workspace_roots></filesystem>\n</environment_context>";
    let skills = "- `r0` = `/tmp/tmp.AbCdEf1234/home/.codex/skills/.system`";
    let rec = body_only(json!({"input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": skills}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": env}]},
        {"type": "function_call_output", "output": "wrote /tmp/tmp.AbCdEf1234/work/notes.txt and /tmp/tmp.AbCdEf1234/home/.bashrc"},
    ]}));
    let n = norm(&rec);
    let kinds: Vec<(&str, &str)> = n.paths.iter().map(|p| (p.kind.as_str(), p.path.as_str())).collect();
    assert_eq!(
        kinds,
        [
            ("codex_home", "/tmp/tmp.AbCdEf1234/home/.codex"),
            ("home", "/tmp/tmp.AbCdEf1234/home"),
            ("cwd", "/tmp/tmp.AbCdEf1234/work"),
        ]
    );
    let b = body(&n);
    assert_eq!(b["input"][0]["content"][0]["text"], "- `r0` = `<codex_home#1>/skills/.system`");
    assert!(b["input"][1]["content"][0]["text"].as_str().unwrap().contains("<cwd><cwd#1></cwd>"));
    assert!(b["input"][1]["content"][0]["text"].as_str().unwrap().contains("<root><cwd#1></root>"));
    assert_eq!(b["input"][2]["output"], "wrote <cwd#1>/notes.txt and <home#1>/.bashrc");
}

#[test]
fn the_rules_file_names_more_paths() {
    let rec = body_only(json!({"note": "see /home/alice/project and /home/alicex"}));
    let n = with_rules(&rec, "[[paths]]\nkind = \"home\"\npath = \"/home/alice\"\n");
    assert_eq!(body(&n)["note"], "see <home#1>/project and /home/alicex");
}

#[test]
fn temporary_directories_become_placeholders() {
    let rec = body_only(
        json!({"a": "/tmp/.tmpAbC123/x", "b": "/tmp/tmp.Zy98Xw76Vu and /tmp/.tmpAbC123", "c": "/tmp/tmpk2j_x8q1/y", "d": "/tmp/short"}),
    );
    let b = body(&norm(&rec));
    assert_eq!(b["a"], "<tmp#1>/x");
    assert_eq!(b["b"], "<tmp#2> and <tmp#1>");
    assert_eq!(b["c"], "<tmp#3>/y");
    assert_eq!(b["d"], "/tmp/short");
}

#[test]
fn timestamps_keep_their_type_and_equal_times_stay_equal() {
    let meta = |t: u64| format!(r#"{{"turn_started_at_unix_ms":{t}}}"#);
    let rec = recording(vec![
        capture(1, 1, &[("x-codex-turn-metadata", &meta(1795246050540))], json!({})),
        capture(1, 2, &[("x-codex-turn-metadata", &meta(1795246050540))], json!({})),
        capture(1, 3, &[("x-codex-turn-metadata", &meta(1795246059999))], json!({})),
    ]);
    let n = norm(&rec);
    let at =
        |i: usize| n.requests[i].doc.to_value()["headers"]["x-codex-turn-metadata"]["turn_started_at_unix_ms"].clone();
    assert_eq!((at(0), at(1), at(2)), (json!("<unix_ms#1>"), json!("<unix_ms#1>"), json!("<unix_ms#2>")));
    let Some(Node::Embedded(meta)) = n.requests[0].doc.get("headers").and_then(|h| h.get("x-codex-turn-metadata"))
    else {
        panic!()
    };
    assert!(matches!(meta.get("turn_started_at_unix_ms"), Some(Node::Masked(_, crate::node::ScalarType::Number))));
}

#[test]
fn the_current_date_becomes_a_placeholder() {
    let rec = body_only(json!({"t": "<current_date>2026-11-21</current_date> and 2024-06-01 stays"}));
    assert_eq!(body(&norm(&rec))["t"], "<current_date><date#1></current_date> and 2024-06-01 stays");
}

#[test]
fn random_and_time_based_uuids_become_numbered_placeholders_by_version() {
    let rec = recording(vec![
        capture(
            1,
            1,
            &[("thread-id", V7), ("x-client-request-id", V7)],
            json!({
                "prompt_cache_key": V7,
                "input": [{"id": format!("msg_{V7B}")}, {"id": format!("fco_{V4}")}],
                "window": format!("{V7}:0"),
                "hex": format!("ab{V7}"),
                "upper": V7.to_uppercase(),
            }),
        ),
        capture(1, 2, &[("thread-id", V7)], json!({"prompt_cache_key": V7, "again": V7B})),
    ]);
    let n = norm(&rec);
    let d = doc(&n);
    assert_eq!(d["headers"]["thread-id"], "<uuid7#1>");
    assert_eq!(d["headers"]["x-client-request-id"], "<uuid7#1>");
    assert_eq!(d["body"]["prompt_cache_key"], "<uuid7#1>");
    assert_eq!(d["body"]["input"][0]["id"], "msg_<uuid7#2>");
    assert_eq!(d["body"]["input"][1]["id"], "fco_<uuid4#1>");
    assert_eq!(d["body"]["window"], "<uuid7#1>:0");
    assert_eq!(d["body"]["hex"], format!("ab{V7}"), "not a UUID inside a longer run of hex digits");
    assert_eq!(d["body"]["upper"], "<uuid7#3>", "spelled differently, a different value");
    let second = n.requests[1].doc.to_value();
    assert_eq!(second["body"]["prompt_cache_key"], "<uuid7#1>", "numbering spans the recording");
    assert_eq!(second["body"]["again"], "<uuid7#2>");
}

#[test]
fn name_based_uuids_are_a_kind_of_their_own_and_can_be_kept() {
    let rec = body_only(json!({"id": format!("msg_{V5}")}));
    assert_eq!(body(&norm(&rec))["id"], "msg_<uuid5#1>");
    let kept = with_rules(&rec, "disable = [\"uuid-name-based\"]\n");
    assert_eq!(body(&kept)["id"], format!("msg_{V5}"));
}

#[test]
fn ids_that_are_not_uuids_still_become_placeholders() {
    let rec = recording(vec![capture(
        1,
        1,
        &[("session-id", "sess-42"), ("thread-id", V7)],
        json!({"prompt_cache_key": "sess-42", "client_metadata": {"turn_id": "t-1", "model": "gpt"}}),
    )]);
    let d = doc(&norm(&rec));
    assert_eq!(d["headers"]["session-id"], "<id#1>");
    assert_eq!(d["headers"]["thread-id"], "<uuid7#1>", "UUIDs keep their own kind");
    assert_eq!(d["body"]["prompt_cache_key"], "<id#1>");
    assert_eq!(d["body"]["client_metadata"]["turn_id"], "<id#2>");
    assert_eq!(d["body"]["client_metadata"]["model"], "gpt");
}

#[test]
fn volatile_tool_output_lines_are_rewritten() {
    let out = "Chunk ID: 745106\nWall time: 0.0123 seconds\nProcess exited with code 0\nOutput:\nWall time: 3 seconds is text\n";
    let rec = body_only(json!({
        "input": [
            {"type": "function_call_output", "output": out},
            {"type": "custom_tool_call_output", "output": [{"type": "input_text", "text": "Exit code: 0\nWall time: 0.1 seconds\nOutput:\n"}]},
            {"type": "custom_tool_call_output", "output": "Script running with cell ID 2\nWall time 0.5 seconds\nOutput:\n"},
        ],
        "elsewhere": "Chunk ID: 1",
    }));
    let b = body(&norm(&rec));
    assert_eq!(
        b["input"][0]["output"],
        "Chunk ID: <chunk_id>\nWall time: <seconds> seconds\nProcess exited with code 0\nOutput:\nWall time: <seconds> seconds is text\n"
    );
    assert_eq!(b["input"][1]["output"][0]["text"], "Exit code: 0\nWall time: <seconds> seconds\nOutput:\n");
    assert_eq!(b["input"][2]["output"], "Script running with cell ID 2\nWall time <seconds> seconds\nOutput:\n");
    assert_eq!(b["elsewhere"], "Chunk ID: 1", "only in tool outputs");
}

#[test]
fn goal_times_in_goal_tool_outputs_are_rewritten() {
    let out = r#"{"goal":{"threadId":"t","objective":"Ship it","status":"complete","tokensUsed":2460,"timeUsedSeconds":3,"createdAt":1795249867,"updatedAt":1795249868},"remainingTokens":null}"#;
    let rec = body_only(json!({
        "input": [
            {"type": "function_call_output", "call_id": "g1", "output": out},
            {"type": "function_call_output", "call_id": "c1", "output": "{\"createdAt\":12,\"updatedAt\":13}"},
        ],
    }));
    let b = body(&norm(&rec));
    assert_eq!(
        b["input"][0]["output"],
        r#"{"goal":{"threadId":"t","objective":"Ship it","status":"complete","tokensUsed":2460,"timeUsedSeconds":<seconds>,"createdAt":<unix_s>,"updatedAt":<unix_s>},"remainingTokens":null}"#
    );
    assert_eq!(b["input"][1]["output"], "{\"createdAt\":12,\"updatedAt\":13}", "only the goal's fields");
}

#[test]
fn exec_session_ids_share_one_kind_between_outputs_and_the_calls_that_continue_them() {
    let rec = body_only(json!({
        "input": [
            {"type": "function_call_output", "output": "Chunk ID: 1\nProcess running with session ID 65989\nOutput:\n"},
            {"type": "function_call", "name": "write_stdin", "arguments": "{\"session_id\":65989,\"chars\":\"x\"}"},
            {"type": "function_call", "name": "write_stdin", "arguments": "{\"session_id\":4242}"},
        ],
    }));
    let b = body(&norm(&rec));
    assert!(b["input"][0]["output"].as_str().unwrap().contains("Process running with session ID <exec_session#1>\n"));
    assert_eq!(b["input"][1]["arguments"]["session_id"], "<exec_session#1>", "the output's session, paired");
    assert_eq!(b["input"][2]["arguments"]["session_id"], "<exec_session#2>", "another session stays another");
}

#[test]
fn user_rules_remove_fix_placeholder_rewrite_and_sort() {
    let rec = recording(vec![capture(
        1,
        1,
        &[("x-request-id", "req-9"), ("x-drop", "1")],
        json!({"include": ["b", "a"], "metadata": {"run": 7, "pid": "pid 4242 and pid 77"}, "keep": "x"}),
    )]);
    let n = with_rules(
        &rec,
        r#"
[[rule]]
name = "drop"
select = ".headers.X-Drop"
remove = true

[[rule]]
name = "request-id"
select = ".headers.x-request-id"
placeholder = "request"

[[rule]]
name = "run"
select = ".body.metadata.run"
value = "<run>"

[[rule]]
name = "pids"
select = ".body.metadata.pid"
regex = 'pid (\d+)'
placeholder = "pid"

[[rule]]
name = "keep"
select = ".body.keep"
regex = '^(x)$'
replace = "${1}y"

[[rule]]
name = "include-order"
select = ".body.include"
unordered = true
"#,
    );
    let d = doc(&n);
    assert!(d["headers"].get("x-drop").is_none());
    assert_eq!(d["headers"]["x-request-id"], "<request#1>");
    assert_eq!(d["body"]["metadata"]["run"], "<run>");
    assert_eq!(d["body"]["metadata"]["pid"], "pid <pid#1> and pid <pid#2>");
    assert_eq!(d["body"]["keep"], "xy");
    assert_eq!(d["body"]["include"], json!(["a", "b"]));
}

#[test]
fn explain_records_which_rule_touched_what() {
    let rec = recording(vec![capture(
        1,
        1,
        &[("thread-id", V7), ("host", "h:1")],
        json!({"input": [{"id": format!("msg_{V4}")}]}),
    )]);
    let n = normalize(&rec, &RuleSet::builtin(), NormalizeOptions { explain: true, ..Default::default() });
    let touches: Vec<(&str, &str, &str, &str)> = n.requests[0]
        .touches
        .iter()
        .map(|t| (t.rule.as_str(), t.path.as_str(), t.before.as_str(), t.after.as_str()))
        .collect();
    assert!(touches.contains(&("host-header", "/headers/host", "h:1", "<host>")), "{touches:?}");
    assert!(touches.contains(&("uuid-random", "/headers/thread-id", V7, "<uuid7#1>")), "{touches:?}");
    let msg = format!("msg_{V4}");
    assert!(touches.contains(&("uuid-random", "/body/input/0/id", msg.as_str(), "msg_<uuid4#1>")), "{touches:?}");
    assert!(norm(&rec).requests[0].touches.is_empty(), "nothing is recorded unless asked");
}

#[test]
fn long_changes_are_explained_by_an_excerpt() {
    let before = format!("{}CHANGE{}", "a".repeat(300), "b".repeat(300));
    let after = before.replace("CHANGE", "<x#1>");
    let (b, a) = excerpt(&before, &after);
    assert!(b.starts_with('…') && b.contains("CHANGE") && b.chars().count() < 110, "{b}");
    assert!(a.contains("<x#1>"), "{a}");
}

#[test]
fn the_builtin_provider_s_volatile_values_are_masked() {
    let rec = recording(vec![capture(
        1,
        1,
        &[("sec-websocket-key", "<redacted:33c26971>")],
        json!({"input": [
            {"type": "message", "internal_chat_message_metadata_passthrough": {"create_time": 1796544347.3, "content_item_kinds": ["user.text"]}},
            {"type": "function_call_output", "internal_chat_message_metadata_passthrough": {"create_time": 1796544361.7}},
        ]}),
    )]);
    let d = doc(&norm(&rec));
    assert_eq!(d["headers"]["sec-websocket-key"], "<sec-websocket-key>");
    let passthrough = |i: usize| d["body"]["input"][i]["internal_chat_message_metadata_passthrough"].clone();
    assert_eq!(passthrough(0), json!({"create_time": "<unix_s>", "content_item_kinds": ["user.text"]}));
    assert_eq!(passthrough(1)["create_time"], "<unix_s>");
}

#[test]
fn a_catalog_fetch_loses_the_client_part_of_its_user_agent_and_other_requests_keep_it() {
    let named = "codex_exec/0.169.0 (Debian 12.0.0; x86_64) dumb (codex_exec; 0.169.0)";
    let bare = "codex_exec/0.169.0 (Debian 12.0.0; x86_64) dumb";
    let fetch = |seq, agent| {
        let mut capture = capture(1, seq, &[("user-agent", agent)], Value::Null);
        capture.request.method = "GET".into();
        capture.request.path = "/v1/models".into();
        capture
    };
    let rec = recording(vec![fetch(1, named), fetch(2, bare), capture(1, 3, &[("user-agent", named)], json!({}))]);
    let n = norm(&rec);
    let agent = |i: usize| n.requests[i].doc.to_value_with(&|p| p.clone())["headers"]["user-agent"].clone();
    assert_eq!(agent(0), "codex_exec/<version> (<os>; x86_64) dumb");
    assert_eq!(agent(0), agent(1), "both catalog fetches read the same");
    assert_eq!(
        agent(2),
        "codex_exec/<version> (<os>; x86_64) dumb (codex_exec; <version>)",
        "a model request keeps it"
    );
}
