//! `rcodex exec` driven the way the TypeScript SDK drives `codex exec`: its flags, its argument order, its
//! environment. Each test states what upstream 0.169.0 was seen doing with the same command line against the
//! scripted server.

use parity_e2e::{Run, outcome, scripted};
use parity_server::Step;
use serde_json::Value;

fn metadata(request: &parity_capture::CapturedRequest) -> Value {
    serde_json::from_str(request.header("x-codex-turn-metadata").expect("turn metadata")).unwrap()
}

fn session_meta(run: &Run) -> Value {
    let file = run.session_files().remove(0);
    let first = std::fs::read_to_string(file).unwrap().lines().next().unwrap().to_string();
    serde_json::from_str::<Value>(&first).unwrap()["payload"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn experimental_json_prints_the_json_events() {
    // Upstream takes `--experimental-json` (the SDK's first flag) as `--json`.
    let s = scripted([Step::message("Hello!")]).await;
    let run = Run::new(&s.base_url(), "", "");
    let out = outcome(run.rcodex(&["exec", "--experimental-json", "--skip-git-repo-check", "hi"])).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    assert_eq!(out.of_type("thread.started").len(), 1, "{}", out.explain());
    assert_eq!(out.agent_messages(), ["Hello!"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn options_before_resume_as_the_sdk_sends_them() {
    // `exec [OPTIONS] resume ID [--image ...] -- PROMPT`: upstream resumes the thread with every option.
    let s = scripted([Step::message("Noted."), Step::message("Again.")]).await;
    let run = Run::new(&s.base_url(), "", "");
    let first = run.exec(&["Remember 42."]).await;
    assert_eq!(first.code, Some(0), "{}", first.explain());
    let thread = first.of_type("thread.started")[0]["thread_id"].as_str().unwrap().to_string();
    let out = outcome(run.rcodex(&[
        "exec",
        "--experimental-json",
        "--model",
        "gpt-5.5",
        "--skip-git-repo-check",
        "--config",
        "model_reasoning_effort=\"high\"",
        "resume",
        &thread,
        "--",
        "Which number?",
    ]))
    .await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    assert_eq!(out.of_type("thread.started")[0]["thread_id"], thread.as_str(), "the same thread");
    let requests = s.model_requests().await;
    assert_eq!(requests[1].request.header("thread-id"), Some(thread.as_str()));
    assert_eq!(requests[1].request.body["reasoning"]["effort"], "high", "the -c before resume counts");
    let input = requests[1].request.input();
    assert_eq!(input.last().unwrap()["content"][0]["text"], "Which number?");
    assert!(input.iter().any(|i| i["content"][0]["text"] == "Noted."), "the history is resumed");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_originator_override_is_the_originator_and_the_user_agent_s_first_word() {
    // The SDK sets CODEX_INTERNAL_ORIGINATOR_OVERRIDE=codex_sdk_ts. Upstream sent `originator: codex_sdk_ts`, a
    // user agent `codex_sdk_ts/0.169.0 (...) TERM (codex_exec; 0.169.0)` and saved the originator in the session.
    let s = scripted([Step::message("Hello!")]).await;
    let run = Run::new(&s.base_url(), "", "");
    let mut command = run.rcodex(&["exec", "--json", "--skip-git-repo-check", "hi"]);
    command.env("CODEX_INTERNAL_ORIGINATOR_OVERRIDE", "codex_sdk_ts");
    let out = outcome(command).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    let requests = s.model_requests().await;
    let request = &requests[0].request;
    assert_eq!(request.header("originator"), Some("codex_sdk_ts"));
    let agent = request.header("user-agent").unwrap();
    assert!(agent.starts_with("codex_sdk_ts/0.169.0 (") && agent.ends_with(" (codex_exec; 0.169.0)"), "{agent}");
    assert_eq!(session_meta(&run)["originator"], "codex_sdk_ts");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cut_stream_is_told_in_upstream_s_words() {
    // As the suite's retry-stream-cut reference events, and upstream's transcript for retries that run out.
    let cut = "stream disconnected before completion: Transport error: network error: error decoding response body";
    let s = scripted([Step::message("Hel").disconnect_before("response.completed"), Step::message("Hello!")]).await;
    let run = Run::new(&s.base_url(), "", "");
    let out = run.exec(&["Say hello."]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    assert_eq!(out.errors(), [format!("Reconnecting... 1/5 ({cut})")]);

    let s = scripted([
        Step::message("Hel").disconnect_before("response.completed"),
        Step::message("Hel").disconnect_before("response.completed"),
    ])
    .await;
    let run = Run::new(&s.base_url(), "", "stream_max_retries = 1");
    let out = outcome(run.rcodex(&["exec", "--skip-git-repo-check", "Say hello."])).await;
    assert_eq!(out.code, Some(1), "{}", out.explain());
    let lines: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("ERROR:")).collect();
    let failure = format!("ERROR: {cut}");
    assert_eq!(lines, ["ERROR: Reconnecting... 1/1", &failure, &failure], "{}", out.explain());
}

#[tokio::test(flavor = "multi_thread")]
async fn thread_source_classifies_a_new_thread_and_cyber_access_program_is_taken() {
    // Upstream put `--thread-source` in the turn metadata and the session file, kept a resumed thread's own
    // classification whatever the flag said, and sent nothing else for `--cyber-access-program` to a custom
    // provider.
    let s = scripted([Step::message("One."), Step::message("Two.")]).await;
    let run = Run::new(&s.base_url(), "", "");
    let first = run.exec(&["--thread-source", "sdk", "--cyber-access-program", "standard", "hi"]).await;
    assert_eq!(first.code, Some(0), "{}", first.explain());
    assert_eq!(session_meta(&run)["thread_source"], "sdk");
    let thread = first.of_type("thread.started")[0]["thread_id"].as_str().unwrap().to_string();
    let again = run.exec(&["--thread-source", "other", "resume", &thread, "again"]).await;
    assert_eq!(again.code, Some(0), "{}", again.explain());
    let requests = s.model_requests().await;
    assert_eq!(metadata(&requests[0].request)["thread_source"], "sdk");
    assert_eq!(metadata(&requests[1].request)["thread_source"], "sdk", "a resumed thread keeps its own");
    let bad = run.exec(&["--cyber-access-program", "bogus", "hi"]).await;
    assert_eq!(bad.code, Some(2), "refused as upstream refuses it: {}", bad.explain());
}

#[tokio::test(flavor = "multi_thread")]
async fn add_dir_is_a_workspace_root_commands_can_write_in() {
    let s = scripted([
        Step::function_call("exec_command", serde_json::json!({"cmd": "touch ../extra/made && echo wrote"}))
            .call_id("call_1"),
        Step::message("Done.").expect_function_call_output("call_1"),
    ])
    .await;
    let run = Run::new(&s.base_url(), "", "");
    let extra = run.dir().join("extra");
    std::fs::create_dir_all(&extra).unwrap();
    let extra_text = extra.display().to_string();
    let out = run.exec(&["-s", "workspace-write", "--add-dir", &extra_text, "make it"]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    let requests = s.model_requests().await;
    let output = requests[1].request.function_call_output_text("call_1").expect("the command's output");
    // Where the kernel refuses the sandbox's namespaces no command runs; the context is checked all the same.
    if !output.contains("bubblewrap") {
        assert!(extra.join("made").exists(), "the command wrote in the added directory: {output}");
    }
    let texts: Vec<String> = requests[0]
        .request
        .input()
        .iter()
        .flat_map(|i| i["content"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["text"].as_str().map(str::to_string))
        .collect();
    let workspace = run.workspace.display().to_string();
    let roots = format!("<workspace_roots><root>{workspace}</root><root>{extra_text}</root></workspace_roots>");
    assert!(texts.iter().any(|t| t.contains(&roots)), "{texts:#?}");
    assert!(texts.iter().any(|t| t.contains(&format!("<entry access=\"write\"><path>{extra_text}</path></entry>"))));
    assert!(texts.iter().any(|t| t.contains("The writable roots are ") && t.contains(&format!("`{extra_text}`"))));
    assert_eq!(session_meta(&run)["runtime_workspace_roots"], serde_json::json!([workspace, extra_text]));
}

/// The content parts of the last user message of a request.
fn last_user_content(request: &parity_capture::CapturedRequest) -> Vec<Value> {
    let input = request.input();
    let message = input.iter().rev().find(|i| i["role"] == "user").expect("a user message");
    message["content"].as_array().cloned().unwrap_or_default()
}

fn text(t: &str) -> Value {
    serde_json::json!({"type": "input_text", "text": t})
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_that_cannot_be_decoded_is_a_placeholder_and_the_turn_completes() {
    // Upstream 0.169.0 with `-i good.png -i bad.png -i missing.png -- describe` (gpt-5.5): the turn completed, and the
    // user message was these parts, the images before the prompt, each numbered in its `<image>` tags (the unreadable
    // one takes its number too but has no tags), the good one byte for byte at `original` detail.
    let s = scripted([Step::message("Seen.")]).await;
    let run = Run::new(&s.base_url(), "", "");
    std::fs::copy(parity_e2e::repo().join("fixtures/scenarios/files/checkerboard.png"), run.workspace.join("good.png"))
        .unwrap();
    std::fs::write(run.workspace.join("bad.png"), "hello").unwrap();
    let out = run.exec(&["-i", "good.png", "-i", "bad.png", "-i", "missing.png", "--", "describe"]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    assert_eq!(out.agent_messages(), ["Seen."]);
    let png = std::fs::read(run.workspace.join("good.png")).unwrap();
    let url = format!("data:image/png;base64,{}", base64_encode(&png));
    let requests = s.model_requests().await;
    assert_eq!(
        last_user_content(&requests[0].request),
        [
            text("<image name=[Image #1] path=\"good.png\">"),
            serde_json::json!({"type": "input_image", "image_url": url, "detail": "original"}),
            text("</image>"),
            text("<image name=[Image #2] path=\"bad.png\">"),
            text("image content omitted because it could not be processed"),
            text("</image>"),
            text("Codex could not read the local image at `missing.png`: No such file or directory (os error 2)"),
            text("describe"),
        ]
    );
}

/// Standard base64, to build the data URL an image is sent as.
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_base_url_is_where_the_built_in_openai_provider_sends() {
    // Upstream 0.169.0 with `openai_base_url = URL` and no `model_provider` sent its turn to URL/responses (over a
    // WebSocket there, after a warm-up), and ignored an OPENAI_BASE_URL variable.
    let s = scripted([Step::message("Hello!")]).await;
    let run = Run::new(&s.base_url(), "", "");
    let config = format!("model = \"gpt-5.5\"\napproval_policy = \"never\"\nopenai_base_url = \"{}\"\n", s.base_url());
    std::fs::write(run.home.join("config.toml"), config).unwrap();
    let mut command = run.rcodex(&["exec", "--json", "--skip-git-repo-check", "hi"]);
    command.env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1").env("OPENAI_API_KEY", "sk-e2e-dummy");
    let out = outcome(command).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    assert_eq!(out.agent_messages(), ["Hello!"]);
    let requests = s.model_requests().await;
    assert_eq!(requests.len(), 2, "the warm-up, then the turn");
    assert_eq!(requests[0].request.body["generate"], false);
    assert_eq!(requests[1].request.body["input"].as_array().map(Vec::len), Some(3), "after the warm-up's item");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_no_model_set_upstream_s_default_model_is_asked_for() {
    // A fresh home whose config.toml names a custom provider and no model: upstream 0.169.0 asked for gpt-6.1-sol,
    // the first model of its catalog by priority (and so did it on the built-in provider).
    let s = scripted([Step::message("Hello!")]).await;
    let run = Run::new(&s.base_url(), "", "");
    let path = run.home.join("config.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    let without_model: Vec<&str> = config.lines().filter(|l| !l.starts_with("model =")).collect();
    std::fs::write(&path, without_model.join("\n")).unwrap();
    let out = run.exec(&["hi"]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    assert_eq!(s.model_requests().await[0].request.body["model"], "gpt-6.1-sol");
}

/// Upstream 0.169.0's warning for the keys it does not know, for one layer's keys.
fn ignoring(entries: &[(&str, &str)]) -> String {
    let plural = if entries.len() == 1 { "" } else { "s" };
    let mut message = format!(
        "Codex is ignoring {} unrecognized configuration setting{plural}. Check for typos or deprecated settings.",
        entries.len()
    );
    for (layer, key) in entries {
        message.push_str(&format!("\n  {layer}: `{key}` is ignored."));
    }
    message
}

fn warnings(out: &parity_e2e::Outcome) -> Vec<String> {
    out.of_type("item.completed")
        .iter()
        .filter(|e| e["item"]["type"] == "error")
        .map(|e| e["item"]["message"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_keys_are_told_in_upstream_s_words_and_known_ones_not_at_all() {
    // Upstream 0.169.0 with `foo_bar = 1`, `[features] foo = true` in config.toml and `-c features.bar=true
    // -c web_search="live" -c features.web_search_request=true`: one warning for the keys it does not know, sorted by
    // layer and key, shown twice around the deprecated feature's notice; nothing for `web_search` (a key it knows).
    let s = scripted([Step::message("Hello!")]).await;
    let run = Run::new(&s.base_url(), "foo_bar = 1\n[features]\nfoo = true\n", "");
    let out = run
        .exec(&["-c", "features.bar=true", "-c", "web_search=\"live\"", "-c", "features.web_search_request=true", "hi"])
        .await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    let user = format!("user ({})", run.home.join("config.toml").display());
    let told = ignoring(&[("session-flags", "features.bar"), (&user, "features.foo"), (&user, "foo_bar")]);
    let deprecated = "`[features].web_search_request` is deprecated because web search is enabled by default. (Set \
                      `web_search` to `\"live\"`, `\"indexed\"`, `\"cached\"`, or `\"disabled\"` at the top level (or \
                      under a profile) in config.toml if you want to override it.)";
    assert_eq!(warnings(&out), [told.clone(), deprecated.to_string(), told], "{}", out.explain());
}

#[tokio::test(flavor = "multi_thread")]
async fn configuration_warnings_come_after_thread_started_and_before_the_model_s() {
    // Upstream 0.169.0 printed nothing before `thread.started`; then the configuration's warnings, then the model's
    // ("Model metadata for `my-model` not found..."), then `turn.started`. In the transcript, the header comes first.
    let s = scripted([Step::message("Hello!")]).await;
    let run = Run::new(&s.base_url(), "foo_bar = 1\n", "");
    let out = run.exec(&["-m", "my-model", "hi"]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    let types: Vec<String> = out.events.iter().map(|e| e["type"].as_str().unwrap().to_string()).collect();
    assert_eq!(types[0], "thread.started", "{}", out.explain());
    let user = format!("user ({})", run.home.join("config.toml").display());
    let told = ignoring(&[(&user, "foo_bar")]);
    let model = "Model metadata for `my-model` not found. Defaulting to fallback metadata; this can degrade \
                 performance and cause issues.";
    assert_eq!(warnings(&out), [told.clone(), told, model.to_string()]);
    assert_eq!(types[4], "turn.started", "{}", out.explain());

    let out = outcome(run.rcodex(&["exec", "--skip-git-repo-check", "-m", "my-model", "hi"])).await;
    let header = out.stderr.find("--------").expect("the header");
    let warning = out.stderr.find("warning: Codex is ignoring").expect("the warning");
    assert!(header < warning, "{}", out.explain());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_transcript_is_upstream_s_for_a_plain_turn_and_a_tool_turn() {
    // Upstream 0.169.0's transcript on stderr (colours off) for the same scripts. Plain turn: the sandbox line, then
    // `tokens used` and the count with thousands separators; the answer alone on stdout.
    let s = scripted([Step::message("Hello there!")]).await;
    let run = Run::new(&s.base_url(), "", "");
    let out = outcome(run.rcodex(&["exec", "--skip-git-repo-check", "-s", "workspace-write", "hi"])).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    assert_eq!(out.stdout, "Hello there!\n");
    assert!(out.stderr.contains("\nsandbox: workspace-write [workdir, /tmp, $TMPDIR]\n"), "{}", out.explain());
    assert!(out.stderr.ends_with("\nuser\nhi\ncodex\nHello there!\ntokens used\n1,230\n"), "{}", out.explain());

    // Tool turn: a search told when it starts and when it ends; a command with its time in milliseconds and its
    // output whole, as it is (a blank line after output that ends with a newline, nothing for none); a patch as
    // `apply patch`, `patch: completed` and its files; the thread's tokens less the cached ones (6 001 input, 1 000 of
    // them cached, and 2 090 output: 7,091).
    let search = serde_json::json!({"type": "web_search_call", "id": "ws_1", "status": "completed",
        "action": {"type": "search", "query": "rust sha1"}});
    let patch = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\n";
    let mut last = Step::message("All done.");
    last = last.usage(parity_server::Usage {
        input_tokens: 2401,
        cached_tokens: 1000,
        output_tokens: 2000,
        reasoning_tokens: 0,
    });
    let s = scripted([
        Step::reply()
            .then_item(parity_server::OutputItem::Item(search))
            .then_function_call("exec_command", serde_json::json!({"cmd": "echo hello"}))
            .call_id("call_1"),
        Step::function_call("exec_command", serde_json::json!({"cmd": "true"})).call_id("call_2"),
        Step::custom_tool_call("apply_patch", patch).call_id("call_3"),
        last,
    ])
    .await;
    let run = Run::new(&s.base_url(), "", "");
    let out = outcome(run.rcodex(&["exec", "--skip-git-repo-check", "-s", "danger-full-access", "Do it"])).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    assert_eq!(out.stdout, "All done.\n");
    let workspace = run.workspace.display().to_string();
    let transcript = out.stderr.split("--------\n").last().unwrap();
    let timed = |line: &str| {
        let (head, rest) = line.split_once(" in ").unwrap_or((line, ""));
        let digits = rest.trim_end_matches("ms:");
        assert!(digits.chars().all(|c| c.is_ascii_digit()) && !digits.is_empty(), "{line}");
        format!("{head} in Nms:")
    };
    let lines: Vec<String> =
        transcript.lines().map(|l| if l.starts_with(" succeeded in ") { timed(l) } else { l.to_string() }).collect();
    let expected = [
        "user",
        "Do it",
        "web search: rust sha1",
        "web search: rust sha1",
        "exec",
        &format!("/bin/bash -lc 'echo hello' in {workspace}"),
        " succeeded in Nms:",
        "hello",
        "",
        "exec",
        &format!("/bin/bash -lc true in {workspace}"),
        " succeeded in Nms:",
        "apply patch",
        "patch: completed",
        &format!("{workspace}/a.txt"),
        "codex",
        "All done.",
        "tokens used",
        "7,091",
    ];
    assert_eq!(lines, expected, "{}", out.explain());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_that_ends_without_completing_is_a_disconnection_in_upstream_s_words() {
    // The TypeScript SDK's "throws ThreadRunError on turn failures": the stream ends after `response.created`, then
    // every retry meets a stream of SSE `error` events only. Upstream 0.169.0 said, for each retry and at the end:
    // `stream disconnected before completion: stream closed before response.completed`.
    let created = serde_json::json!({"type": "response.created", "response": {"id": "resp_1"}});
    let error = serde_json::json!({"type": "error", "error": {"code": "rate_limit_exceeded", "message": "rate limit"}});
    let s = scripted([Step::raw([created]), Step::raw([error])]).await;
    let run = Run::new(&s.base_url(), "", "stream_max_retries = 1");
    let out = run.exec(&["fail"]).await;
    assert_eq!(out.code, Some(1), "{}", out.explain());
    let expected = "stream disconnected before completion: stream closed before response.completed";
    assert_eq!(out.errors(), [format!("Reconnecting... 1/1 ({expected})"), expected.to_string()]);
    assert_eq!(out.of_type("turn.failed")[0]["error"]["message"], expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_git_repository_check_follows_upstreams_rule() {
    // The TypeScript SDK's suite expects `Not inside a trusted directory and --skip-git-repo-check was not
    // specified.` (exit 1) for a working directory outside any git repository. Upstream 0.169.0 was seen deciding by
    // the `.git` entries of the working directory and its ancestors, nothing else: a `.git` directory counts when it
    // holds a `HEAD` (of any content, even a directory), a `.git` file whatever it holds (even no valid `gitdir:`), a
    // symbolic link by what it points to (a dangling one does not count), and a `.git` directory without `HEAD`
    // does not count but the search goes on above it. `[projects."DIR"] trust_level` changed nothing: a trusted
    // directory outside git was refused, an untrusted repository ran.
    let s = scripted((0..5).map(|_| Step::message("ran")).collect::<Vec<_>>()).await;
    let run = Run::new(&s.base_url(), "", "");
    let dir = tempfile::tempdir().unwrap();
    let make = |name: &str| {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let empty_git = make("empty-git");
    std::fs::create_dir(empty_git.join(".git")).unwrap();
    let with_head = make("with-head");
    std::fs::create_dir(with_head.join(".git")).unwrap();
    std::fs::write(with_head.join(".git/HEAD"), "junk\n").unwrap();
    let git_file = make("git-file");
    std::fs::write(git_file.join(".git"), "not a gitdir line\n").unwrap();
    let dangling = make("dangling");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), dangling.join(".git")).unwrap();
    let linked = make("linked");
    std::os::unix::fs::symlink(with_head.join(".git"), linked.join(".git")).unwrap();
    let below_empty = make("with-head/sub/inner");
    std::fs::create_dir(below_empty.join(".git")).unwrap();
    let trusted = make("trusted");
    std::fs::write(
        run.home.join("config.toml"),
        format!(
            "{}\n[projects.\"{}\"]\ntrust_level = \"trusted\"\n",
            std::fs::read_to_string(run.home.join("config.toml")).unwrap(),
            trusted.display()
        ),
    )
    .unwrap();
    let cases = [
        (&empty_git, false),
        (&with_head, true),
        (&git_file, true),
        (&dangling, false),
        (&linked, true),
        (&below_empty, true),
        (&trusted, false),
    ];
    for (cwd, runs) in cases {
        let out = outcome(run.rcodex(&["exec", "--json", "-C", cwd.to_str().unwrap(), "go"])).await;
        let refused =
            out.stderr.contains("Not inside a trusted directory and --skip-git-repo-check was not specified.");
        assert_eq!((out.code == Some(0), refused), (runs, !runs), "{}: {}", cwd.display(), out.explain());
    }
}
