//! Steps matched by content: side requests (title generation, a sub-agent) take their own steps, the main
//! conversation takes the rest in order.

mod common;

use common::{codex_body, post};
use parity_server::script::Syntax;
use parity_server::{Match, ParityServer, Script, Step};

fn text(reply: &common::Reply) -> String {
    let output = &reply.last_data()["response"]["output"];
    output[0]["content"][0]["text"].as_str().map(str::to_string).unwrap_or_else(|| output[0]["name"].to_string())
}

#[tokio::test]
async fn side_requests_take_their_own_steps_and_the_rest_go_in_order() {
    let script = Script::new()
        .step(Step::message("Fix the login bug").name("title").matching(Match::last_input_contains("a title")).repeat())
        .step(Step::message("main one").name("main 1"))
        .step(
            Step::message("sub-agent answer")
                .name("sub-agent")
                .matching(Match::header("x-openai-subagent", "collab_spawn").and(Match::model("gpt-5.5"))),
        )
        .step(Step::message("main two").name("main 2"));
    let server = ParityServer::scripted(script).start().await.unwrap();
    let base = server.base_url();
    let session = ("thread-id", "t-1");
    let sub = [session, ("x-openai-subagent", "collab_spawn")];

    let title = post(&base, &codex_body("Write a title for this"), &[session]).await;
    let main1 = post(&base, &codex_body("fix the bug"), &[session]).await;
    let sub1 = post(&base, &codex_body("look at the tests"), &sub).await;
    let title2 = post(&base, &codex_body("And a title again"), &[session]).await;
    let main2 = post(&base, &codex_body("go on"), &[session]).await;
    let replies = [&title, &main1, &sub1, &title2, &main2];
    let texts: Vec<String> = replies.iter().map(|r| text(r)).collect();
    assert_eq!(texts, ["Fix the login bug", "main one", "sub-agent answer", "Fix the login bug", "main two"]);
    let id = |r: &common::Reply| r.last_data()["response"]["id"].clone();
    assert_ne!(id(&title), id(&title2), "a repeated step answers with fresh ids each time");

    // The sub-agent step is used up: a second sub-agent request falls through to the steps in order, which are
    // used up too, so it gets the past-the-end 400 naming what was tried.
    let over = post(&base, &codex_body("more"), &sub).await;
    assert_eq!(over.status, 400);
    assert_eq!(over.json()["error"]["code"], "parity_script_exhausted");
    let message = over.error_message();
    for part in [
        "session 1 sent model request 6",
        "step 1 \"title\" does not match: last_input_contains \"a title\" (found \"more\")",
        "step 3 \"sub-agent\" matched an earlier request and is used up",
        "the 2 step(s) without `match` are used up",
    ] {
        assert!(message.contains(part), "{part:?} in: {message}");
    }

    let captures = server.model_requests().await;
    let account: Vec<(Option<u32>, String)> = captures
        .iter()
        .map(|c| {
            let script = c.script.as_ref().unwrap();
            (script.step, script.matched_by.clone().unwrap_or_default())
        })
        .collect();
    assert_eq!(
        account,
        [
            (Some(1), "content".to_string()),
            (Some(2), "order".to_string()),
            (Some(3), "content".to_string()),
            (Some(1), "content".to_string()),
            (Some(4), "order".to_string()),
            (None, String::new()),
        ]
    );
    let sub_account = &captures[2].script.as_ref().unwrap().expectations;
    let names: Vec<&str> = sub_account.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["match.headers.x-openai-subagent", "match.model"]);
    assert!(sub_account.iter().all(|e| e.ok));
}

#[tokio::test]
async fn a_matching_step_still_checks_its_expectations_and_names_its_step() {
    let script = Script::new()
        .step(Step::message("main"))
        .step(Step::message("compacted").matching(Match::input_contains("COMPACT")).expect_model("gpt-5.4"));
    let server = ParityServer::scripted(script).start().await.unwrap();
    let reply = post(&server.base_url(), &codex_body("please COMPACT this"), &[]).await;
    assert_eq!(reply.status, 400);
    let message = reply.error_message();
    assert!(
        message.contains("request 1 of session 1 does not meet step 2's expectations: model \"gpt-5.4\""),
        "{message}"
    );
    // The main step is still there for the main request.
    let main = post(&server.base_url(), &codex_body("hello"), &[]).await;
    assert_eq!(text(&main), "main");
}

#[test]
fn match_and_repeat_load_from_toml_and_json_and_bad_ones_are_refused_naming_the_step() {
    let toml = r#"
        [[steps]]
        output = [{ message = "main" }]

        [[steps]]
        name = "sub-agent"
        match = { originator = "codex_exec", header = { "x-openai-subagent" = "collab_spawn" } }
        repeat = true
        output = [{ message = "sub" }]
    "#;
    let script = Script::parse(toml, Syntax::Toml, "m.toml").unwrap();
    let m = script.steps[1].matching.clone().unwrap();
    assert_eq!(m, Match::originator("codex_exec").and(Match::header("x-openai-subagent", "collab_spawn")));
    assert!(script.steps[1].repeat);
    let json = serde_json::to_string(&script).unwrap();
    assert!(json.contains("\"match\":{"), "{json}");
    assert_eq!(Script::parse(&json, Syntax::Json, "m.json").unwrap(), script);

    let err = |text: &str| Script::parse(text, Syntax::Toml, "bad.toml").unwrap_err().to_string();
    let e = err("[[steps]]\n\n[[steps]]\nmatch = {}\n");
    assert!(e.contains("step 2: `match` is empty"), "{e}");
    let e = err("[[steps]]\nrepeat = true\n");
    assert!(e.contains("step 1: `repeat` needs `match`"), "{e}");
    let e = err("[[steps]]\n\n[[steps]]\nmatch = { origniator = \"x\" }\n");
    assert!(e.starts_with("bad.toml:4:") && e.contains("step 2: match.origniator: unknown field `origniator`"), "{e}");
    let e = err("[[steps]]\nmatch = { header = { \"x y\" = \"v\" } }\n");
    assert!(e.contains("step 1: match.header: \"x y\" is not a valid header name"), "{e}");
}
