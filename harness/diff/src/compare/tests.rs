//! The comparison on small recordings built in code.

use serde_json::{Value, json};

use super::*;
use crate::normalize::{NormalizeOptions, normalize};
use crate::rules::RuleSet;
use crate::testing::{body_only, capture, recording};

fn diff(left: &parity_capture::Recording, right: &parity_capture::Recording) -> Comparison {
    let rules = RuleSet::builtin();
    compare(
        &normalize(left, &rules, NormalizeOptions::default()),
        &normalize(right, &rules, NormalizeOptions::default()),
    )
}

fn bodies(left: Value, right: Value) -> Vec<Divergence> {
    let c = diff(&body_only(left), &body_only(right));
    c.pairs.into_iter().flat_map(|p| p.divergences).collect()
}

/// (category, kind, path) of each divergence.
fn summary(ds: &[Divergence]) -> Vec<(Category, Kind, String)> {
    ds.iter().map(|d| (d.category, d.kind, d.path.clone())).collect()
}

const T1: &str = "01a1fd00-ccb2-7660-a0fe-e2f1ded47a37";
const T2: &str = "01a1fd00-d405-7350-87ef-f468138fd6c6";
const X: &str = "01a1fd00-d999-7abc-8def-0123456789ab";
const I1: &str = "402beeab-f14c-4ff3-9deb-0ca735c573e8";
const I2: &str = "94b28e35-fab0-4eb5-bfd3-c39605d12c73";

#[test]
fn equal_after_normalization_means_no_divergence() {
    let ds = bodies(
        json!({"prompt_cache_key": T1, "input": [{"id": format!("msg_{I1}")}]}),
        json!({"prompt_cache_key": T2, "input": [{"id": format!("msg_{I2}")}]}),
    );
    assert!(ds.is_empty(), "{ds:?}");
}

#[test]
fn keys_on_one_side_and_type_changes_are_schema() {
    let ds = bodies(json!({"a": 1, "b": "x", "c": {"d": true}}), json!({"a": "1", "c": {}, "e": null}));
    assert_eq!(
        summary(&ds),
        [
            (Category::Schema, Kind::TypeChanged, "/body/a".into()),
            (Category::Schema, Kind::OnlyLeft, "/body/b".into()),
            (Category::Schema, Kind::OnlyLeft, "/body/c/d".into()),
            (Category::Schema, Kind::OnlyRight, "/body/e".into()),
        ]
    );
    assert_eq!(ds[0].note.as_deref(), Some("number on the left, string on the right"));
    assert_eq!((ds[1].left.clone(), ds[1].right.clone()), (Some(json!("x")), None));
}

#[test]
fn key_order_counts_in_the_body_but_not_in_unordered_maps() {
    let ds = bodies(
        json!({"model": "m", "stream": true, "client_metadata": {"a": "1", "b": "2"}}),
        json!({"stream": true, "model": "m", "client_metadata": {"b": "2", "a": "1"}}),
    );
    assert_eq!(summary(&ds), [(Category::Schema, Kind::KeyOrder, "/body".into())]);
    assert_eq!(ds[0].left, Some(json!(["model", "stream", "client_metadata"])));
}

#[test]
fn other_values_are_value_or_prompt_by_where_they_are() {
    let ds = bodies(
        json!({"model": "a", "reasoning": {"effort": "medium"}, "instructions": "Be brief.", "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "function_call_output", "call_id": "c1", "output": "ok"},
        ]}),
        json!({"model": "b", "reasoning": {"effort": "high"}, "instructions": "Be short.", "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]},
            {"type": "function_call_output", "call_id": "c2", "output": "fine"},
        ]}),
    );
    assert_eq!(
        summary(&ds),
        [
            (Category::Value, Kind::Changed, "/body/model".into()),
            (Category::Value, Kind::Changed, "/body/reasoning/effort".into()),
            (Category::Prompt, Kind::Changed, "/body/instructions".into()),
            (Category::Prompt, Kind::Changed, "/body/input/0/content/0/text".into()),
            (Category::Value, Kind::Changed, "/body/input/1/call_id".into()),
            (Category::Prompt, Kind::Changed, "/body/input/1/output".into()),
        ]
    );
}

#[test]
fn input_items_of_another_role_are_schema_and_moves_are_found() {
    let msg = |role: &str, text: &str| json!({"type": "message", "role": role, "content": [{"type": "input_text", "text": text}]});
    let ds = bodies(
        json!({"input": [msg("developer", "a"), msg("user", "b"), msg("user", "c")]}),
        json!({"input": [msg("user", "a"), msg("user", "c"), msg("user", "b")]}),
    );
    assert_eq!(
        summary(&ds),
        [
            (Category::Schema, Kind::Changed, "/body/input/0/role".into()),
            (Category::Schema, Kind::Moved, "/body/input/2".into()),
        ]
    );
    assert_eq!(ds[1].right_path.as_deref(), Some("/body/input/1"));
}

#[test]
fn items_on_one_side_are_reported_once_not_as_a_shift() {
    let item = |n: u32| json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": format!("m{n}")}]});
    let ds = bodies(
        json!({"input": [item(1), item(2), item(3), item(4)]}),
        json!({"input": [item(1), item(3), item(4), item(5)]}),
    );
    assert_eq!(
        summary(&ds),
        [
            (Category::Schema, Kind::OnlyLeft, "/body/input/1".into()),
            (Category::Schema, Kind::OnlyRight, "/body/input/3".into()),
        ]
    );
}

#[test]
fn tools_pair_by_name() {
    let tool = |name: &str, desc: &str, ty: &str| json!({"type": "function", "name": name, "description": desc, "parameters": {"type": "object", "properties": {"x": {"type": ty}}}});
    let ds = bodies(
        json!({"tools": [tool("a", "A", "string"), tool("b", "B", "string"), tool("c", "C", "string"), {"type": "web_search"}]}),
        json!({"tools": [tool("b", "B!", "string"), tool("a", "A", "number"), {"type": "web_search"}, tool("d", "D", "string")]}),
    );
    assert_eq!(
        summary(&ds),
        [
            (Category::Schema, Kind::Changed, "/body/tools/0/parameters/properties/x/type".into()),
            (Category::Schema, Kind::Moved, "/body/tools/1".into()),
            (Category::Prompt, Kind::Changed, "/body/tools/1/description".into()),
            (Category::Schema, Kind::OnlyLeft, "/body/tools/2".into()),
            (Category::Schema, Kind::OnlyRight, "/body/tools/3".into()),
        ]
    );
    assert_eq!(ds[0].right_path.as_deref(), Some("/body/tools/1/parameters/properties/x/type"));
    assert_eq!(ds[3].note.as_deref(), Some("tool `c`"));
}

#[test]
fn a_broken_relation_is_reported_where_it_breaks() {
    let headers =
        |thread: &'static str, request: &'static str| [("thread-id", thread), ("x-client-request-id", request)];
    let left = recording(vec![capture(1, 1, &headers(T1, T1), json!({"prompt_cache_key": T1}))]);
    let right = recording(vec![capture(1, 1, &headers(T2, X), json!({"prompt_cache_key": T2}))]);
    let c = diff(&left, &right);
    let ds = &c.pairs[0].divergences;
    assert_eq!(summary(ds), [(Category::Relation, Kind::RelationBroken, "/headers/x-client-request-id".into())]);
    assert_eq!(
        ds[0].note.as_deref(),
        Some("the left has the same value here as at /headers/thread-id; the right has another")
    );
    assert_eq!((ds[0].left.clone(), ds[0].right.clone()), (Some(json!("<uuid7#1>")), Some(json!("<uuid7#2>"))));
    // The other way round: the right merges two ids the left keeps apart.
    let c = diff(&right, &left);
    assert_eq!(
        c.pairs[0].divergences[0].note.as_deref(),
        Some("the right has the same value here as at /headers/thread-id; the left has another")
    );
}

#[test]
fn relations_hold_across_requests_and_a_shifted_numbering_is_harmless() {
    // The right sends an extra id first, so its numbering is shifted; the relations are the same.
    let left = recording(vec![
        capture(1, 1, &[("thread-id", T1)], json!({"installation": I1})),
        capture(1, 2, &[("thread-id", T1)], json!({"installation": I1})),
    ]);
    let right = recording(vec![
        capture(1, 1, &[("a-first", X), ("thread-id", T2)], json!({"installation": I2})),
        capture(1, 2, &[("thread-id", T2)], json!({"installation": I2})),
    ]);
    let c = diff(&left, &right);
    let all: Vec<&Divergence> = c.divergences().map(|(_, d)| d).collect();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!((all[0].kind, all[0].path.as_str()), (Kind::OnlyRight, "/headers/a-first"));
    assert_eq!(all[0].right, Some(json!("<uuid7#2>")), "numbered after the left's own");
    // A later request that breaks the relation is caught.
    let broken = recording(vec![
        capture(1, 1, &[("thread-id", T2)], json!({"installation": I2})),
        capture(1, 2, &[("thread-id", X)], json!({"installation": I2})),
    ]);
    let c = diff(&left, &broken);
    let ds: Vec<(&str, Kind, &str)> = c.divergences().map(|(p, d)| (p.id.as_str(), d.kind, d.path.as_str())).collect();
    assert_eq!(ds, [("session-01/0002", Kind::RelationBroken, "/headers/thread-id")]);
    assert_eq!(
        c.pairs[1].divergences[0].note.as_deref(),
        Some("the left has the same value here as at /headers/thread-id in session-01/0001; the right has another")
    );
}

#[test]
fn ids_of_another_kind_are_a_value_divergence() {
    let ds = bodies(json!({"id": format!("msg_{T1}")}), json!({"id": format!("msg_{I1}")}));
    assert_eq!(summary(&ds), [(Category::Value, Kind::Changed, "/body/id".into())]);
    assert_eq!(ds[0].note.as_deref(), Some("ids of another kind"));
}

#[test]
fn json_in_a_string_against_plain_json_is_a_type_change() {
    let ds = bodies(
        json!({"input": [{"type": "function_call", "arguments": "{\"cmd\":\"ls\"}"}]}),
        json!({"input": [{"type": "function_call", "arguments": {"cmd": "ls"}}]}),
    );
    assert_eq!(summary(&ds), [(Category::Schema, Kind::TypeChanged, "/body/input/0/arguments".into())]);
    assert_eq!(ds[0].note.as_deref(), Some("JSON in a string on the left, object on the right"));
}

#[test]
fn a_request_missing_on_one_side_is_a_divergence_and_pairs_get_patches() {
    let left = recording(vec![capture(1, 1, &[], json!({"a": 1})), capture(1, 2, &[], json!({"a": 1}))]);
    let right = recording(vec![capture(1, 1, &[], json!({"a": 2})), capture(2, 1, &[], json!({}))]);
    let c = diff(&left, &right);
    let ds: Vec<(&str, Kind, &str)> = c.divergences().map(|(p, d)| (p.id.as_str(), d.kind, d.path.as_str())).collect();
    assert_eq!(
        ds,
        [
            ("session-01/0001", Kind::Changed, "/body/a"),
            ("session-01/0002", Kind::OnlyLeft, ""),
            ("session-02/0001", Kind::OnlyRight, ""),
        ]
    );
    let patch = serde_json::to_value(c.pairs[0].patch.as_ref().unwrap()).unwrap();
    assert_eq!(patch, json!([{"op": "replace", "path": "/body/a", "value": 2}]));
    assert!(c.pairs[1].patch.is_none());
    assert_eq!(c.pairs[1].left.as_ref().unwrap().file, "session-01/0002-post-responses.json");
    let s = c.summary();
    assert_eq!((s.pairs, s.divergent_pairs, s.schema, s.value), (3, 3, 2, 1));
    assert!(!c.is_clean());
}

#[test]
fn long_text_divergences_carry_a_word_marked_line_diff() {
    let long = |w: &str| format!("line one\nthe {w} word\nline three");
    let ds = bodies(json!({"instructions": long("old")}), json!({"instructions": long("new")}));
    let diff = ds[0].text_diff.as_ref().expect("a text diff");
    let marked: Vec<String> =
        diff.hunks[0].lines.iter().flat_map(|l| l.parts.iter().filter(|p| p.changed).map(|p| p.text.clone())).collect();
    assert_eq!(marked, ["old", "new"]);
    let short = bodies(json!({"model": "a"}), json!({"model": "b"}));
    assert!(short[0].text_diff.is_none());
}

/// A recording of one request whose headers carry `thread` as the thread id, and its event log.
fn with_events(thread: &str, streams: Vec<crate::events::Stream>) -> (parity_capture::Recording, crate::EventLog) {
    let rec = recording(vec![capture(1, 1, &[("thread-id", thread)], json!({"model": "m"}))]);
    let log = crate::EventLog { dir: "/rec".into(), streams, cwds: vec!["/w/ws-1".into()] };
    (rec, log)
}

fn exec_stream(turn: u32, events: &[Value]) -> crate::events::Stream {
    crate::events::Stream {
        id: format!("events/turn-{turn}"),
        file: format!("turn-{turn}/events.jsonl"),
        label: "exec --json events".into(),
        root: vec![("events".into(), Value::Array(events.to_vec()))],
    }
}

/// The streams of a transcript: its turn's and its thread's.
fn app_server_streams(messages: &[Value]) -> Vec<crate::events::Stream> {
    let text: String = messages.iter().map(|m| format!("{m}\n")).collect();
    crate::events::frontend_streams(&text).0
}

fn diff_events(
    left: (parity_capture::Recording, crate::EventLog),
    right: (parity_capture::Recording, crate::EventLog),
    rules: &RuleSet,
) -> Comparison {
    let options = NormalizeOptions::default();
    compare(
        &crate::normalize_with(&left.0, Some(&left.1), rules, options),
        &crate::normalize_with(&right.0, Some(&right.1), rules, options),
    )
}

fn exec_turn(thread: &str, path: &str, text: &str) -> Vec<Value> {
    vec![
        json!({"type": "thread.started", "thread_id": thread}),
        json!({"type": "item.completed", "item": {"id": "item_0", "type": "file_change", "changes": [{"path": path, "kind": "add"}]}}),
        json!({"type": "item.completed", "item": {"id": "item_1", "type": "agent_message", "text": text}}),
    ]
}

#[test]
fn events_differing_only_in_volatile_values_do_not_diverge_and_ids_relate_to_the_requests() {
    let left = with_events(T1, vec![exec_stream(1, &exec_turn(T1, "/w/ws-1/a.txt", "Done."))]);
    let mut right = with_events(T2, vec![exec_stream(1, &exec_turn(T2, "/w/ws-2/a.txt", "Done."))]);
    right.1.cwds = vec!["/w/ws-2".into()];
    let c = diff_events(left, right, &RuleSet::builtin());
    assert!(c.is_clean(), "{:?}", c.divergences().collect::<Vec<_>>());
    assert_eq!((c.summary().pairs, c.summary().streams), (1, 1));
    assert!(c.pairs[1].events && c.pairs[1].id == "events/turn-1");

    // The thread id in the events is the one of the request headers: on the right it is another id.
    let left = with_events(T1, vec![exec_stream(1, &exec_turn(T1, "/w/ws-1/a.txt", "Done."))]);
    let right = with_events(T2, vec![exec_stream(1, &exec_turn(X, "/w/ws-1/a.txt", "Done."))]);
    let c = diff_events(left, right, &RuleSet::builtin());
    let ds: Vec<&Divergence> = c.divergences().map(|(_, d)| d).collect();
    assert_eq!(ds.len(), 1, "{ds:?}");
    assert_eq!(
        (ds[0].category, ds[0].kind, ds[0].path.as_str()),
        (Category::Events, Kind::RelationBroken, "/events/0/thread_id")
    );
}

#[test]
fn a_real_event_difference_is_an_events_divergence_and_can_be_accepted() {
    let left = with_events(T1, vec![exec_stream(1, &exec_turn(T1, "/w/ws-1/a.txt", "Done."))]);
    let right =
        with_events(T1, vec![exec_stream(1, &exec_turn(T1, "/w/ws-1/a.txt", "Finished.")), exec_stream(2, &[])]);
    let mut c = diff_events(left, right, &RuleSet::builtin());
    let ds: Vec<&Divergence> = c.divergences().map(|(_, d)| d).collect();
    assert_eq!(
        summary(&ds.into_iter().cloned().collect::<Vec<_>>()),
        [
            (Category::Events, Kind::Changed, "/events/2/item/text".into()),
            (Category::Events, Kind::OnlyRight, String::new())
        ]
    );
    assert_eq!(c.summary().events, 2);
    let accept = crate::AcceptList::from_toml(
        "[[accept]]\ncategory = \"events\"\npath = \"/events/*/item/text\"\nrequest = \"events/*\"\nreason = \"r\"\n",
        std::path::Path::new("a.toml"),
    )
    .unwrap();
    accept.apply(&mut c);
    assert_eq!(c.summary().accepted, 1);
    assert_eq!(c.summary().events, 1, "the stream on one side only is left");
}

#[test]
fn app_server_times_durations_and_process_ids_are_masked_and_rules_can_turn_that_off() {
    // The thread is the one of the request's headers (T1 on the left, T2 on the right).
    let turn = |thread: &str, created: u64, updated: u64, duration: u64, pid: &str, text: &str| {
        app_server_streams(&[
            json!({"from": "agent", "message": {"method": "thread/started", "params": {"thread": {"id": thread, "createdAt": created, "updatedAt": updated}}}}),
            json!({"from": "agent", "message": {"method": "turn/started", "params": {"turn": {"id": "u1", "startedAt": created}}}}),
            json!({"from": "agent", "message": {"method": "item/completed", "params": {"turnId": "u1", "item": {"id": "call_1", "type": "commandExecution", "processId": pid, "durationMs": duration}}}}),
            json!({"from": "agent", "message": {"method": "item/completed", "params": {"turnId": "u1", "item": {"id": "m", "type": "agentMessage", "text": text}}}}),
        ])
    };
    let c = diff_events(
        with_events(T1, turn(T1, 100, 100, 12, "4821", "Done.")),
        with_events(T2, turn(T2, 200, 201, 30, "9733", "Done.")),
        &RuleSet::builtin(),
    );
    assert!(c.is_clean(), "{:?}", c.divergences().collect::<Vec<_>>());
    let c = diff_events(
        with_events(T1, turn(T1, 100, 100, 12, "4821", "Done.")),
        with_events(T2, turn(T2, 100, 100, 12, "4821", "Other.")),
        &RuleSet::builtin(),
    );
    let paths: Vec<&str> = c.divergences().map(|(_, d)| d.path.as_str()).collect();
    assert_eq!(paths, ["/messages/2/params/item/text"]);
    assert_eq!((c.pairs[1].id.as_str(), c.pairs[2].id.as_str()), ("frontend/setup", "frontend/thread"));

    let rules = RuleSet::from_toml("disable = [\"events-timestamps\"]\n", std::path::Path::new("r.toml")).unwrap();
    let c = diff_events(
        with_events(T1, turn(T1, 100, 100, 12, "4821", "Done.")),
        with_events(T2, turn(T2, 200, 200, 12, "4821", "Done.")),
        &rules,
    );
    let paths: Vec<&str> = c.divergences().map(|(_, d)| d.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/messages/0/params/turn/startedAt",
            "/ambient/thread~1started/0/thread/createdAt",
            "/ambient/thread~1started/0/thread/updatedAt"
        ]
    );
}

fn started(session: u32, seq: u32, step: Option<&str>) -> NormalizedRequest {
    NormalizedRequest {
        session,
        seq,
        file: String::new(),
        label: "POST /v1/responses".into(),
        step: step.map(str::to_string),
        path: Default::default(),
        doc: Node::from_value(json!({})),
        touches: Vec::new(),
    }
}

#[test]
fn sessions_begun_by_the_same_named_step_pair_whatever_order_they_reached_the_server_in() {
    let left = [
        started(1, 1, Some("step 5")),
        started(2, 1, Some("step 1 \"child-a\"")),
        started(2, 2, Some("step 2 \"child-a-answer\"")),
        started(3, 1, Some("step 3 \"child-b\"")),
    ];
    let right = [
        started(1, 1, Some("step 5")),
        started(2, 1, Some("step 3 \"child-b\"")),
        started(3, 2, Some("step 2 \"child-a-answer\"")),
        started(3, 1, Some("step 1 \"child-a\"")),
    ];
    assert_eq!(session_pairing(&left, &right), HashMap::from([(2, 3), (3, 2)]));
    // In the same order, or begun by unnamed steps: by number.
    assert!(session_pairing(&left, &left).is_empty());
    let unnamed = [started(1, 1, Some("step 5")), started(2, 1, None), started(3, 1, Some("step 4"))];
    assert!(session_pairing(&unnamed, &unnamed[..]).is_empty());
    // Only a reordering among themselves: a session that would take another's number, left unpaired, is not moved.
    let lone = [started(1, 1, Some("step 5")), started(3, 1, Some("step 1 \"child-a\""))];
    assert!(session_pairing(&left, &lone).is_empty());
}
