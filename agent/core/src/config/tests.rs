use super::*;

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new(config: &str) -> Home {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        Home { dir }
    }

    fn file(&self, name: &str, text: &str) -> &Home {
        std::fs::write(self.dir.path().join(name), text).unwrap();
        self
    }

    fn load(&self, overrides: Overrides) -> Result<Config, ConfigError> {
        Config::load(&Overrides { codex_home: Some(self.dir.path().into()), cwd: Some("/w".into()), ..overrides })
    }
}

const PROVIDER: &str = r#"
model_provider = "fake"
[model_providers.fake]
name = "fake"
base_url = "http://127.0.0.1:1/v1"
wire_api = "responses"
env_key = "FAKE_KEY"
"#;

#[test]
fn every_key_is_read() {
    let home = Home::new(
        r#"
model_provider = "fake"
model = "gpt-5.6-sol"
model_reasoning_effort = "high"
model_reasoning_summary = "detailed"
model_verbosity = "medium"
sandbox_mode = "workspace-write"
approval_policy = "on-request"
project_doc_max_bytes = 1000
[sandbox_workspace_write]
writable_roots = ["/extra"]
network_access = true
exclude_tmpdir_env_var = true
exclude_slash_tmp = true
[shell_environment_policy]
inherit = "core"
ignore_default_excludes = false
exclude = ["AWS_*"]
set = { FOO = "bar" }
include_only = ["PATH", "HOME"]
[model_providers.fake]
name = "fake"
base_url = "http://127.0.0.1:1/v1"
wire_api = "responses"
env_key = "FAKE_KEY"
query_params = { "api-version" = "2025" }
http_headers = { "x-team" = "parity" }
env_http_headers = { "x-org" = "ORG_VAR" }
request_max_retries = 2
stream_max_retries = 200
stream_idle_timeout_ms = 1500
"#,
    );
    let c = home.load(Overrides::default()).unwrap();
    assert_eq!(c.model, "gpt-5.6-sol");
    assert_eq!(c.model_reasoning_effort.as_deref(), Some("high"));
    assert_eq!(c.model_reasoning_summary.as_deref(), Some("detailed"));
    assert_eq!(c.model_verbosity.as_deref(), Some("medium"));
    assert_eq!(c.sandbox_mode, SandboxMode::WorkspaceWrite);
    assert_eq!(c.approval_policy, ApprovalPolicy::Never, "exec never asks, whatever the file says");
    assert_eq!(c.project_doc_max_bytes, 1000);
    assert_eq!(c.sandbox_workspace_write.writable_roots, [PathBuf::from("/extra")]);
    assert!(c.sandbox_workspace_write.network_access && c.network_access());
    assert!(c.sandbox_workspace_write.exclude_tmpdir_env_var && c.sandbox_workspace_write.exclude_slash_tmp);
    assert_eq!(c.shell_environment_policy.inherit, Inherit::Core);
    assert!(!c.shell_environment_policy.ignore_default_excludes);
    assert_eq!(c.shell_environment_policy.set["FOO"], "bar");
    assert_eq!(c.shell_environment_policy.include_only, ["PATH", "HOME"]);
    assert_eq!(c.shell_environment_policy.exclude, ["AWS_*"]);
    let p = &c.model_provider;
    assert_eq!((c.model_provider_id.as_str(), p.base_url.as_deref()), ("fake", Some("http://127.0.0.1:1/v1")));
    assert_eq!(p.env_key.as_deref(), Some("FAKE_KEY"));
    assert_eq!(p.query_params["api-version"], "2025");
    assert_eq!(p.http_headers["x-team"], "parity");
    assert_eq!(p.env_http_headers["x-org"], "ORG_VAR");
    assert_eq!(p.request_max_retries(), 2);
    assert_eq!(p.stream_max_retries(), MAX_RETRIES_CAP, "capped");
    assert_eq!(p.stream_idle_timeout(), std::time::Duration::from_millis(1500));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn defaults_are_upstream_s() {
    let home = Home::new("");
    let c = home.load(Overrides::default()).unwrap();
    assert_eq!((c.model.as_str(), c.model_provider_id.as_str()), (DEFAULT_MODEL, "openai"));
    assert_eq!(c.sandbox_mode, SandboxMode::ReadOnly);
    assert_eq!(c.model_provider.env_key, None, "the login's credentials, not a variable of its own");
    assert!(c.model_provider.requires_openai_auth);
    assert_eq!(c.model_provider.request_max_retries(), DEFAULT_REQUEST_MAX_RETRIES);
    assert_eq!(c.model_provider.stream_max_retries(), DEFAULT_STREAM_MAX_RETRIES);
    assert_eq!(
        c.model_provider.stream_idle_timeout(),
        std::time::Duration::from_millis(DEFAULT_STREAM_IDLE_TIMEOUT_MS)
    );
    assert_eq!(c.project_doc_max_bytes, DEFAULT_PROJECT_DOC_MAX_BYTES);
    assert_eq!(c.shell_environment_policy, ShellEnvironmentPolicy::default());
    assert!(!c.network_access());
}

#[test]
fn profiles_layer_over_the_file_from_either_place_and_overrides_over_both() {
    let home =
        Home::new(&format!("model = \"a\"\nmodel_verbosity = \"low\"\n[profiles.deep]\nmodel = \"b\"\n{PROVIDER}"));
    home.file("fast.config.toml", "model = \"c\"\nmodel_reasoning_effort = \"low\"\n");
    let with = |profile: &str, config: Vec<&str>| {
        home.load(Overrides {
            profile: Some(profile.into()),
            config: config.into_iter().map(String::from).collect(),
            ..Default::default()
        })
    };
    assert_eq!(with("deep", vec![]).unwrap().model, "b", "[profiles.deep] in config.toml");
    let fast = with("fast", vec![]).unwrap();
    assert_eq!((fast.model.as_str(), fast.model_reasoning_effort.as_deref()), ("c", Some("low")), "fast.config.toml");
    assert_eq!(fast.model_verbosity.as_deref(), Some("low"), "the file's keys stay under the profile");
    assert_eq!(with("fast", vec!["model=\"d\""]).unwrap().model, "d", "-c wins over the profile");
    let flags =
        home.load(Overrides { profile: Some("fast".into()), model: Some("e".into()), ..Default::default() }).unwrap();
    assert_eq!(flags.model, "e", "-m wins over everything");
    let missing = with("nope", vec![]).unwrap_err().to_string();
    assert!(missing.contains("profile `nope` not found") && missing.contains("nope.config.toml"), "{missing}");
    home.file("config.toml", &format!("profile = \"deep\"\n[profiles.deep]\nmodel = \"b\"\n{PROVIDER}"));
    assert_eq!(home.load(Overrides::default()).unwrap().model, "b", "`profile` in the file selects one");
}

#[test]
fn overrides_parse_toml_values_and_fall_back_to_strings() {
    let home = Home::new(PROVIDER);
    let c = home
        .load(Overrides {
            config: vec![
                "model_providers.fake.request_max_retries=7".into(),
                "sandbox_workspace_write.writable_roots=[\"/a\", \"/b\"]".into(),
                "model=gpt-5.5-raw".into(),
            ],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(c.model_provider.request_max_retries(), 7);
    assert_eq!(c.sandbox_workspace_write.writable_roots.len(), 2);
    assert_eq!(c.model, "gpt-5.5-raw", "not TOML: taken as a string");
    let bad = home.load(Overrides { config: vec!["nokey".into()], ..Default::default() }).unwrap_err();
    assert!(bad.to_string().contains("-c nokey: expected key=value"));
}

#[test]
fn unknown_keys_warn_and_invalid_values_name_key_and_origin() {
    let home = Home::new(&format!("mystery = 1\nmodel_reasoning_effort = \"extreme\"\n{PROVIDER}"));
    let err = home.load(Overrides::default()).unwrap_err().to_string();
    assert!(err.contains("config.toml") && err.contains("model_reasoning_effort") && err.contains("extreme"), "{err}");

    let home = Home::new(&format!("mystery = 1\n{PROVIDER}"));
    let c = home.load(Overrides::default()).unwrap();
    let file = home.dir.path().join("config.toml").display().to_string();
    let told = format!(
        "Codex is ignoring 1 unrecognized configuration setting. Check for typos or deprecated settings.\n  user ({file}): `mystery` is ignored."
    );
    assert_eq!(c.warnings, [told.clone(), told], "upstream tells its startup warnings twice");

    let err = home.load(Overrides { config: vec!["sandbox_mode=\"yolo\"".into()], ..Default::default() }).unwrap_err();
    assert!(err.to_string().starts_with("-c sandbox_mode=\"yolo\": sandbox_mode:"), "{err}");

    let home = Home::new("model = \n");
    let err = home.load(Overrides::default()).unwrap_err().to_string();
    assert!(err.contains("config.toml:1:"), "{err}");

    let home = Home::new("[model_providers.x]\nname = \"x\"\nbase_url = \"http://h\"\nmodel_provider = \"x\"\n");
    let c = home.load(Overrides::default()).unwrap();
    assert_eq!(c.model_provider_id, "openai", "a key under the wrong table is not read where it was meant");
    assert!(c.warnings[0].ends_with(": `model_providers.x.model_provider` is ignored."), "{:?}", c.warnings);
    let home2 =
        Home::new("model_provider = \"x\"\n[model_providers.x]\nbase_url = \"http://h\"\nwire_api = \"chat\"\n");
    let err = home2.load(Overrides::default()).unwrap_err().to_string();
    assert!(err.contains("wire_api = \"chat\""), "{err}");
    let nameless = Home::new("model_provider = \"x\"\n[model_providers.x]\nbase_url = \"http://h\"\n");
    let err = nameless.load(Overrides::default()).unwrap_err().to_string();
    assert!(err.contains("model_providers.x: provider name must not be empty"), "{err}");
    let home3 = Home::new("model_provider = \"ghost\"\n");
    assert!(home3.load(Overrides::default()).unwrap_err().to_string().contains("`ghost` is not defined"));

    let home = Home::new(&format!("{PROVIDER}\n[shell_environment_policy]\nexclude = [\"AWS_*\", \"[oops\"]\n"));
    let err = home.load(Overrides::default()).unwrap_err().to_string();
    assert!(err.contains("config.toml") && err.contains("shell_environment_policy.exclude[1]"), "{err}");
    assert!(err.contains("invalid pattern `[oops`"), "{err}");
}

#[test]
fn upstream_provider_keys_are_accepted_and_unknown_ones_warned_about_like_top_level_keys() {
    let home = Home::new(&format!(
        "{PROVIDER}supports_websockets = false\nexperimental_bearer_token = \"tok\"\nwebsocket_connect_timeout_ms = 9\n\
         requires_openai_auth = false\nenv_key_instructions = \"ask\"\nfoo_bar = 1\n[model_providers.fake.auth]\ncommand = \"x\"\n"
    ));
    let c = home.load(Overrides { config: vec!["model_providers.fake.typo=2".into()], ..Default::default() }).unwrap();
    assert_eq!(c.model_provider.experimental_bearer_token.as_deref(), Some("tok"));
    assert_eq!(c.model_provider.env_key_instructions.as_deref(), Some("ask"));
    assert!(!c.model_provider.supports_websockets);
    let file = home.dir.path().join("config.toml").display().to_string();
    let unrecognized = format!(
        "Codex is ignoring 2 unrecognized configuration settings. Check for typos or deprecated settings.\n  \
         session-flags: `model_providers.fake.typo` is ignored.\n  user ({file}): `model_providers.fake.foo_bar` is ignored."
    );
    assert_eq!(
        c.warnings,
        [
            unrecognized.clone(),
            unrecognized,
            format!(
                "{file}: `model_providers.fake.auth` is not supported: rcodex does not run commands for credentials; use env_key or experimental_bearer_token (rcodex ignores it)"
            ),
        ]
    );
}

#[test]
fn keys_are_judged_as_upstream_judges_them_and_told_in_its_words() {
    // What upstream 0.169.0 printed for these layers: the keys it does not know, sorted by layer name and key, three
    // at most; the deprecated features between two copies of that; nothing for the keys it knows (`web_search`,
    // known features, `[tui]`, `filters`...), whether rcodex reads them or not.
    let home = Home::new(&format!(
        "zeta = 1\nalpha = 1\nweb_search = \"live\"\nmid.x = 1\n{PROVIDER}supports_standalone_web_search = true\n\
         [features]\nweb_search_request = true\nfoo = true\nmulti_agent = true\n[tui]\nanything = 1\n[history]\n\
         bogus = 1\n[shell_environment_policy]\nfilters = []\ntypo = 1\ninherit = \"core\"\n\
         [sandbox_workspace_write]\nnetwork_access = true\nnope = 1\n[profiles.p]\nmodel = \"m\"\npath = 1\n"
    ));
    home.file("abc.config.toml", "pbogus = 1\n[features]\nweb_search_cached = true\n");
    let c = home
        .load(Overrides {
            profile: Some("abc".into()),
            config: vec!["features.bar=true".into(), "cbogus=1".into(), "cbogus=2".into()],
            ..Default::default()
        })
        .unwrap();
    let dir = home.dir.path().display().to_string();
    let unrecognized = format!(
        "Codex is ignoring 11 unrecognized configuration settings. Check for typos or deprecated settings.\n  \
         session-flags: `cbogus` is ignored.\n  session-flags: `features.bar` is ignored.\n  \
         user ({dir}/abc.config.toml): `pbogus` is ignored.\n  ... and 8 more ignored settings."
    );
    let web_search = |key: &str| {
        format!(
            "`[features].{key}` is deprecated because web search is enabled by default. (Set `web_search` to `\"live\"`, \
             `\"indexed\"`, `\"cached\"`, or `\"disabled\"` at the top level (or under a profile) in config.toml if you \
             want to override it.)"
        )
    };
    let multi_agent = "`[features].multi_agent` is deprecated. It still controls the V1 fallback. `[agents].enabled = \
                       false` disables subagent tools even when the model selects a subagent version, unless \
                       `[features].multi_agent_v2` is enabled.";
    assert_eq!(
        c.warnings,
        [
            multi_agent.to_string(),
            unrecognized.clone(),
            web_search("web_search_cached"),
            web_search("web_search_request"),
            multi_agent.to_string(),
            unrecognized,
        ]
    );
    // The others, in order: config.toml's alpha, features.foo, history.bogus, mid, profiles.p.path,
    // sandbox_workspace_write.nope, shell_environment_policy.typo, zeta.
    assert_eq!(c.shell_environment_policy.inherit, Inherit::Core, "the keys rcodex reads are read");
    assert!(c.sandbox_workspace_write.network_access);
    assert_eq!(c.web_search, Some(WebSearchMode::Live), "web_search is read");
    for ignored in ["features", "tui", "shell_environment_policy.filters", "supports_standalone_web_search"] {
        assert!(c.ignored.iter().any(|i| i.ends_with(ignored)), "{ignored}: {:?}", c.ignored);
    }

    // One to three are all named; "settings" is singular for one.
    let few = Home::new(&format!("b = 1\na = 1\n{PROVIDER}")).load(Overrides::default()).unwrap();
    assert!(few.warnings[0].starts_with("Codex is ignoring 2 unrecognized configuration settings."));
    assert!(few.warnings[0].contains("`a` is ignored.\n  user (") && few.warnings[0].ends_with("`b` is ignored."));
    let none = Home::new(&format!("web_search = \"disabled\"\n{PROVIDER}[features]\nshell_tool = true\n"));
    assert!(none.load(Overrides::default()).unwrap().warnings.is_empty());
}

#[test]
fn openai_base_url_moves_the_built_in_openai_provider() {
    let home = Home::new("openai_base_url = \"http://127.0.0.1:9/v1\"\n");
    let c = home.load(Overrides::default()).unwrap();
    assert_eq!(
        (c.model_provider_id.as_str(), c.model_provider.base_url.as_deref()),
        ("openai", Some("http://127.0.0.1:9/v1"))
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // Empty is the default, as upstream takes it; -c wins as for any key.
    let c = home.load(Overrides { config: vec!["openai_base_url=\"\"".into()], ..Default::default() }).unwrap();
    assert_eq!(c.model_provider.base_url.as_deref(), Some(DEFAULT_OPENAI_BASE_URL));
    // Another provider is not moved.
    let custom = Home::new(&format!("openai_base_url = \"http://127.0.0.1:9/v1\"\n{PROVIDER}"));
    assert_eq!(
        custom.load(Overrides::default()).unwrap().model_provider.base_url.as_deref(),
        Some("http://127.0.0.1:1/v1")
    );
    // A URL that is not one is refused naming the layer, as a provider's base_url is.
    let err = home.load(Overrides { config: vec!["openai_base_url=\"not a url\"".into()], ..Default::default() });
    let err = err.unwrap_err().to_string();
    assert!(err.starts_with("-c openai_base_url=\"not a url\": openai_base_url: `not a url` is not a URL"), "{err}");
}

#[test]
fn the_default_model_is_the_first_of_upstream_s_catalog_by_priority() {
    // Upstream 0.169.0 asked for gpt-6.1-sol with no `model` set, on a custom provider and on `openai`.
    let catalog: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../captures/codex-0.169.0/models.json"))
            .unwrap(),
    )
    .unwrap();
    let first = catalog["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["visibility"] == "list")
        .min_by_key(|m| m["priority"].as_i64())
        .unwrap();
    assert_eq!(first["slug"], DEFAULT_MODEL);
    let c = Home::new(PROVIDER).load(Overrides::default()).unwrap();
    assert_eq!(c.model, "gpt-6.1-sol");
}

#[test]
fn a_bad_base_url_or_header_is_refused_at_load_naming_the_file_and_the_key() {
    let with = |lines: &str| {
        let provider = if lines.starts_with("base_url") {
            PROVIDER.replace("base_url = \"http://127.0.0.1:1/v1\"\n", "")
        } else {
            PROVIDER.to_string()
        };
        let home = Home::new(&format!("{provider}{lines}\n"));
        let file = home.dir.path().join("config.toml").display().to_string();
        (home.load(Overrides::default()).map(|_| ()).unwrap_err().to_string(), file)
    };
    let (err, file) = with("base_url = \"not a url\"");
    assert!(err.starts_with(&format!("{file}: model_providers.fake.base_url: `not a url` is not a URL")), "{err}");
    let (err, _) = with("base_url = \"ftp://h/v1\"");
    assert!(err.contains("model_providers.fake.base_url: `ftp://h/v1` is not an http or https URL"), "{err}");
    let (err, file) = with("http_headers = { \"bad name\" = \"x\" }");
    assert!(err.starts_with(&format!("{file}: model_providers.fake.http_headers")), "{err}");
    assert!(err.contains("`bad name` is not a valid HTTP header name"), "{err}");
    let (err, _) = with("http_headers = { \"x-ok\" = \"bad\\nvalue\" }");
    assert!(err.contains("model_providers.fake.http_headers") && err.contains("the value of `x-ok`"), "{err}");
    let (err, _) = with("env_http_headers = { \"bad name\" = \"PATH\" }");
    assert!(err.contains("model_providers.fake.env_http_headers") && err.contains("`bad name`"), "{err}");
    let (err, _) = with("env_http_headers = { \"x-ok\" = \"\" }");
    assert!(err.contains("model_providers.fake.env_http_headers") && err.contains("for header `x-ok`"), "{err}");
    let (err, _) = with("experimental_bearer_token = \"a\\nb\"");
    assert!(err.contains("model_providers.fake.experimental_bearer_token"), "{err}");

    let home = Home::new(PROVIDER);
    let err = home
        .load(Overrides { config: vec!["model_providers.fake.base_url=not a url".into()], ..Default::default() })
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("-c model_providers.fake.base_url=not a url: model_providers.fake.base_url:"), "{err}");
    // A provider that is not used is checked all the same: the file is wrong either way.
    let unused = Home::new(&format!("{PROVIDER}[model_providers.other]\nname = \"o\"\nbase_url = \"nope\"\n"));
    let err = unused.load(Overrides::default()).unwrap_err().to_string();
    assert!(err.contains("model_providers.other.base_url"), "{err}");
}

#[test]
fn dotenv_loads_variables_but_never_codex_ones_nor_replaces_set_ones() {
    let home = Home::new("");
    let unique = format!("RCODEX_DOTENV_TEST_{}", std::process::id());
    home.file(".env", &format!("{unique}=from-file\nCODEX_HOME=/elsewhere\nPATH=/clobbered\n"));
    let path_before = std::env::var("PATH").unwrap();
    // SAFETY: this test reads and writes only variables no other test uses; PATH is only read.
    unsafe { load_dotenv(home.dir.path()).unwrap() };
    assert_eq!(std::env::var(&unique).unwrap(), "from-file");
    assert_ne!(std::env::var("CODEX_HOME").ok().as_deref(), Some("/elsewhere"));
    assert_eq!(std::env::var("PATH").unwrap(), path_before, "a set variable is kept");
}

#[test]
fn added_directories_are_workspace_roots_and_writable_in_workspace_write() {
    let home = Home::new(&format!("{PROVIDER}\n[sandbox_workspace_write]\nwritable_roots = [\"/data\"]\n"));
    let overrides = || Overrides { add_dirs: vec!["sub".into(), "/x/extra".into()], ..Default::default() };
    let c = home.load(Overrides { sandbox_mode: Some(SandboxMode::WorkspaceWrite), ..overrides() }).unwrap();
    let roots: Vec<PathBuf> = ["/w", "/w/sub", "/x/extra", "/data"].iter().map(PathBuf::from).collect();
    assert_eq!(c.workspace_roots(), roots, "relative ones from the working directory, in the order given");
    let writable: Vec<PathBuf> = c.sandbox_policy().writable_roots(&c.cwd).into_iter().map(|w| w.root).collect();
    for root in &roots {
        assert!(writable.contains(root), "{root:?} writable: {writable:?}");
    }
    let read_only = home.load(overrides()).unwrap();
    assert_eq!(read_only.workspace_roots(), roots[..3], "read-only lists them too, without the configured ones");
    assert!(read_only.sandbox_policy().writable_roots(&read_only.cwd).is_empty());
    assert_eq!(read_only.thread_source, "user");
    let told = home.load(Overrides { thread_source: Some("sdk".into()), ..Default::default() }).unwrap();
    assert_eq!(told.thread_source, "sdk");
}

#[test]
fn a_startup_warning_is_told_with_each_copy_of_the_others() {
    let home = Home::new(&format!("zzz = 1\n{PROVIDER}[features]\nweb_search_cached = true\n"));
    let mut c = home.load(Overrides::default()).unwrap();
    assert_eq!(c.warnings.len(), 3, "{:?}", c.warnings);
    c.warn_at_startup("hooks");
    assert_eq!(c.warnings[1], "hooks");
    assert_eq!(c.warnings[4], "hooks");
    assert_eq!((c.warnings.len(), c.warnings[0].clone()), (5, c.warnings[3].clone()));
    let mut quiet = Home::new(PROVIDER).load(Overrides::default()).unwrap();
    quiet.warn_at_startup("hooks");
    assert_eq!(quiet.warnings, ["hooks", "hooks"]);
}

#[test]
fn the_keys_that_shape_the_context_are_read() {
    let home = Home::new(&format!(
        "developer_instructions = \"In French.\"\nmodel_instructions_file = \"mine.md\"\n\
         project_doc_fallback_filenames = [\"CLAUDE.md\"]\n{PROVIDER}"
    ));
    home.file("mine.md", "\n  Be terse.\n");
    let c = home.load(Overrides::default()).unwrap();
    assert_eq!(c.developer_instructions.as_deref(), Some("In French."));
    assert_eq!(c.model_instructions.as_deref(), Some("Be terse."), "relative to CODEX_HOME, trimmed");
    assert_eq!(c.project_doc_fallback_filenames, ["CLAUDE.md"]);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let missing = Home::new(&format!("model_instructions_file = \"/nowhere/x.md\"\n{PROVIDER}"));
    assert!(missing.load(Overrides::default()).is_err());
    // Live under danger-full-access, cached otherwise, unless configured.
    let default = Home::new(PROVIDER).load(Overrides::default()).unwrap();
    assert_eq!(default.web_search_mode(), WebSearchMode::Cached);
    let full = Overrides { sandbox_mode: Some(SandboxMode::DangerFullAccess), ..Default::default() };
    assert_eq!(Home::new(PROVIDER).load(full.clone()).unwrap().web_search_mode(), WebSearchMode::Live);
    let off = Home::new(&format!("web_search = \"disabled\"\npersonality = \"none\"\n{PROVIDER}")).load(full).unwrap();
    assert_eq!(off.web_search_mode(), WebSearchMode::Disabled);
    assert_eq!(off.personality, Some(Personality::None));
}

#[test]
fn a_file_s_relative_writable_roots_are_relative_to_its_directory() {
    // Upstream 0.169.0 showed `workspace-write [workdir, /tmp, $TMPDIR, CODEX_HOME/rel]` for `writable_roots = ["rel"]`
    // in config.toml, and `[..., CWD/rel]` for the same from -c.
    let home = Home::new(&format!("{PROVIDER}[sandbox_workspace_write]\nwritable_roots = [\"rel\", \"/abs\"]\n"));
    let c = home.load(Overrides { sandbox_mode: Some(SandboxMode::WorkspaceWrite), ..Default::default() }).unwrap();
    assert_eq!(c.sandbox_workspace_write.writable_roots, [home.dir.path().join("rel"), PathBuf::from("/abs")]);
    assert_eq!(c.workspace_roots()[1], home.dir.path().join("rel"));
    let flag = home
        .load(Overrides {
            sandbox_mode: Some(SandboxMode::WorkspaceWrite),
            config: vec!["sandbox_workspace_write.writable_roots=[\"rel\"]".into()],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(flag.workspace_roots()[1], PathBuf::from("/w/rel"));
}

#[test]
fn untrusted_approval_is_refused_in_upstream_s_words_from_any_layer() {
    let expected = r#"approval_policy = "untrusted" is no longer supported; remove this setting"#;
    let from_file = Home::new(&format!("approval_policy = \"untrusted\"\n{PROVIDER}")).load(Overrides::default());
    assert!(matches!(&from_file, Err(ConfigError::Unsupported(m)) if m == expected), "{from_file:?}");
    let from_flag = Home::new(PROVIDER)
        .load(Overrides { config: vec!["approval_policy=\"untrusted\"".into()], ..Default::default() });
    assert!(matches!(&from_flag, Err(ConfigError::Unsupported(m)) if m == expected), "{from_flag:?}");
    let on_request = Home::new(&format!("approval_policy = \"on-request\"\n{PROVIDER}")).load(Overrides::default());
    assert!(on_request.is_ok(), "{on_request:?}");
}

#[test]
fn enabled_features_under_development_are_listed_sorted_unless_suppressed() {
    // Upstream 0.169.0 warns of these (app-request-user-input; and by hand with `-c`): only those set to true.
    let home = Home::new(&format!(
        "{PROVIDER}\n[features]\ndefault_mode_request_user_input = true\ncode_mode = false\nguardianv2 = true\n"
    ));
    let flags = Overrides { config: vec!["features.artifact=true".into()], ..Default::default() };
    let config = home.load(flags.clone()).unwrap();
    assert_eq!(config.under_development_features, ["artifact", "default_mode_request_user_input", "guardianv2"]);
    let quiet = Overrides { config: vec!["suppress_unstable_features_warning=true".into()], ..flags };
    assert!(home.load(quiet).unwrap().under_development_features.is_empty());
}

#[test]
fn the_app_server_runs_the_configured_approval_policy_where_exec_runs_never() {
    let interactive = || Overrides { interactive: true, ..Default::default() };
    let policy = |file: &str, overrides: Overrides| {
        Home::new(&format!("{file}{PROVIDER}")).load(overrides).unwrap().approval_policy
    };
    assert_eq!(policy("", interactive()), ApprovalPolicy::OnRequest, "upstream's app server default");
    assert_eq!(policy("approval_policy = \"never\"\n", interactive()), ApprovalPolicy::Never);
    assert_eq!(policy("approval_policy = \"on-failure\"\n", interactive()), ApprovalPolicy::OnRequest);
    assert_eq!(policy("approval_policy = \"on-request\"\n", Overrides::default()), ApprovalPolicy::Never);
    let asked = Overrides { approval_policy: Some(ApprovalPolicy::Never), ..interactive() };
    assert_eq!(policy("approval_policy = \"on-request\"\n", asked), ApprovalPolicy::Never, "the request wins");
}

#[test]
fn a_sandbox_mode_asked_for_anywhere_is_told_from_the_default() {
    let configured = |file: &str, overrides: Overrides| {
        Home::new(&format!("{file}{PROVIDER}")).load(overrides).unwrap().sandbox_mode_configured
    };
    assert!(!configured("", Overrides::default()));
    assert!(configured("sandbox_mode = \"read-only\"\n", Overrides::default()));
    assert!(configured("", Overrides { sandbox_mode: Some(SandboxMode::ReadOnly), ..Default::default() }));
    let config = Home::new(PROVIDER).load(Overrides::default()).unwrap();
    let turn = TurnOverrides { sandbox: Some((SandboxMode::ReadOnly, None)), ..Default::default() };
    assert!(config.with_overrides(&turn).sandbox_mode_configured, "a turn's sandbox policy");
}
