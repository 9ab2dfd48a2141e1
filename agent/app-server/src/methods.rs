//! The methods around threads and turns: listing and reading threads, archiving and naming them, the model catalog,
//! the configuration, the account, commands run outside a turn, file search. What rcodex does not have is said
//! plainly: an empty list where the answer is "none" (experimental features), an error where the request cannot be
//! carried out (rate limits without a ChatGPT login).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcodex_core::config::Config;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Digest;

use crate::history::{self, History};
use crate::rpc::{self, Reply, RpcError};
use crate::server::{METHODS, Server, ThreadConfig, ThreadView, modified, thread_json};

/// Notifications to send once the answer is sent (upstream announces a change after answering the request that made
/// it).
pub type After = Vec<(&'static str, Value)>;

/// Answers a request that is not about starting or driving a thread.
pub async fn call(server: &Arc<Server>, method: &str, params: Value, after: &mut After) -> Reply {
    match method {
        "thread/list" => thread_list(server, rpc::params(&params)?),
        "thread/loaded/list" => Ok(json!({"data": server.loaded_ids(), "nextCursor": null})),
        "thread/read" => thread_read(server, rpc::params(&params)?),
        "thread/turns/list" => {
            let params: crate::paging::TurnsParams = rpc::params(&params)?;
            let history = crate::paging::history_of(server, &params.thread_id)?;
            crate::paging::turns_list(history.as_ref(), params)
        }
        "thread/items/list" => {
            let params: crate::paging::ItemsParams = rpc::params(&params)?;
            let history = crate::paging::history_of(server, &params.thread_id)?;
            crate::paging::items_list(history.as_ref(), params)
        }
        "thread/archive" => thread_archive(server, rpc::params(&params)?, after).await,
        "thread/unarchive" => thread_unarchive(server, rpc::params(&params)?, after),
        "thread/name/set" => thread_name_set(server, rpc::params(&params)?, after),
        "thread/metadata/update" => thread_metadata_update(server, rpc::params(&params)?),
        "model/list" => model_list(server, rpc::params(&params)?),
        "config/read" => config_read(server, rpc::params(&params)?),
        "config/value/write" => config_value_write(server, rpc::params(&params)?),
        "account/read" => {
            let config = server.load_config(&ThreadConfig::default())?;
            crate::account::read(server, config.model_provider.requires_openai_auth)
        }
        "account/login/start" => crate::account::login_start(server, params, after),
        // As upstream answers without a ChatGPT login: there are no limits to read.
        "account/rateLimits/read" => {
            Err(RpcError::invalid("codex account authentication required to read rate limits"))
        }
        "skills/list" => skills_list(server, rpc::params(&params)?),
        // rcodex has no experimental features to switch.
        "experimentalFeature/list" => Ok(json!({"data": [], "nextCursor": null})),
        "command/exec" => command_exec(server, rpc::params(&params)?).await,
        "fuzzyFileSearch" => fuzzy_file_search(rpc::params(&params)?).await,
        other => Err(unknown_method(other)),
    }
}

/// The refusal of a method rcodex does not answer, in the words upstream refuses an unknown one with (the list is
/// rcodex's methods).
pub fn unknown_method(method: &str) -> RpcError {
    let expected: Vec<String> = METHODS.iter().map(|m| format!("`{m}`")).collect();
    RpcError::invalid(format!("Invalid request: unknown variant `{method}`, expected one of {}", expected.join(", ")))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThreadId {
    thread_id: String,
}

/// A thread from its session file, for lists and reads.
fn file_thread_json(server: &Server, saved: &History, turns: Vec<Value>) -> Value {
    let meta = &saved.meta;
    let id = saved.thread_id();
    let loaded = server.thread(id);
    if let Some(loaded) = &loaded {
        return server.loaded_thread_json(loaded, turns);
    }
    let cwd = PathBuf::from(meta["cwd"].as_str().unwrap_or_default());
    let roots: Vec<PathBuf> = meta["runtime_workspace_roots"]
        .as_array()
        .map(|roots| roots.iter().filter_map(Value::as_str).map(PathBuf::from).collect())
        .unwrap_or_else(|| vec![cwd.clone()]);
    let names = thread_names(&server.options.codex_home);
    thread_json(&ThreadView {
        id,
        cwd: &cwd,
        roots,
        forked_from: meta["forked_from_id"].as_str(),
        preview: saved.preview.clone(),
        ephemeral: false,
        model_provider: meta["model_provider"].as_str().unwrap_or_default(),
        model: saved.model_name(),
        reasoning_effort: None,
        created_at: saved.created_at,
        updated_at: modified(&saved.path).unwrap_or(saved.created_at),
        status: json!({"type": "notLoaded"}),
        path: Some(&saved.path),
        originator: meta["originator"].as_str().unwrap_or_default(),
        source: meta["source"].as_str().unwrap_or("exec"),
        can_accept_direct_input: None,
        git_info: None,
        name: names.get(id).cloned(),
        turns,
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ListParams {
    cursor: Option<String>,
    limit: Option<usize>,
    archived: Option<bool>,
    cwd: Option<Value>,
    model_providers: Option<Vec<String>>,
    search_term: Option<String>,
    source_kinds: Option<Vec<String>>,
}

/// The sources a session file names that the protocol knows by name.
const KNOWN_SOURCES: &[&str] = &["cli", "vscode", "exec", "appServer"];

/// Session files, newest first, as pages of `limit` (the cursor is the index of the next one).
fn thread_list(server: &Server, params: ListParams) -> Reply {
    let files = history::session_files(&server.options.codex_home, params.archived.unwrap_or(false));
    let cwds: Option<Vec<String>> = match &params.cwd {
        Some(Value::String(cwd)) => Some(vec![cwd.clone()]),
        Some(Value::Array(cwds)) => Some(cwds.iter().filter_map(Value::as_str).map(str::to_string).collect()),
        _ => None,
    };
    let start: usize = params.cursor.as_deref().and_then(|c| c.parse().ok()).unwrap_or(0);
    let limit = params.limit.filter(|l| *l > 0).unwrap_or(25);
    let mut data = Vec::new();
    let mut next = None;
    let mut matched = 0;
    for saved in files.iter().filter_map(|path| history::read(path)) {
        let meta = &saved.meta;
        if cwds.as_ref().is_some_and(|cwds| !cwds.iter().any(|c| meta["cwd"].as_str() == Some(c.as_str()))) {
            continue;
        }
        if let Some(providers) = params.model_providers.as_ref().filter(|p| !p.is_empty())
            && !providers.iter().any(|p| meta["model_provider"].as_str() == Some(p.as_str()))
        {
            continue;
        }
        // As the protocol says: without a source filter, the interactive sources only (not exec's threads).
        let kinds = params.source_kinds.as_ref().filter(|k| !k.is_empty());
        let source = meta["source"].as_str().unwrap_or_default();
        let shown = match kinds {
            Some(kinds) => kinds.iter().any(|k| k == source || (k == "unknown" && !KNOWN_SOURCES.contains(&source))),
            None => matches!(source, "cli" | "vscode" | "appServer"),
        };
        if !shown {
            continue;
        }
        if let Some(term) = &params.search_term
            && !saved.preview.contains(term.as_str())
        {
            continue;
        }
        if matched >= start {
            if data.len() == limit {
                next = Some(matched.to_string());
                break;
            }
            data.push(file_thread_json(server, &saved, vec![]));
        }
        matched += 1;
    }
    Ok(json!({"data": data, "nextCursor": next, "backwardsCursor": null}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadParams {
    thread_id: String,
    #[serde(default)]
    include_turns: bool,
}

fn thread_read(server: &Server, params: ReadParams) -> Reply {
    let id = &params.thread_id;
    let loaded = server.thread(id);
    let path = match &loaded {
        Some(loaded) => loaded.handle.rollout_path().map(Path::to_path_buf),
        None => history::find(&server.options.codex_home, id, false)
            .or_else(|| history::find(&server.options.codex_home, id, true)),
    };
    let saved = path.as_deref().filter(|p| p.exists()).and_then(history::read);
    let thread = match (&loaded, &saved) {
        (_, Some(saved)) => {
            file_thread_json(server, saved, if params.include_turns { saved.turns_json() } else { vec![] })
        }
        (Some(loaded), None) => server.loaded_thread_json(loaded, vec![]),
        (None, None) => return Err(RpcError::invalid(format!("thread not loaded: {id}"))),
    };
    Ok(json!({"thread": thread}))
}

async fn thread_archive(server: &Arc<Server>, params: ThreadId, after: &mut After) -> Reply {
    let id = &params.thread_id;
    let home = &server.options.codex_home;
    let loaded = server.thread(id);
    let path = match &loaded {
        Some(loaded) => loaded.handle.rollout_path().filter(|p| p.exists()).map(Path::to_path_buf),
        None => history::find(home, id, false),
    }
    .ok_or_else(|| RpcError::invalid(format!("no rollout found for thread id {id}")))?;
    if loaded.is_some() {
        server.unload(id).await;
        server.out.notify("thread/status/changed", json!({"threadId": id, "status": {"type": "notLoaded"}}));
    }
    let archive = home.join("archived_sessions");
    let moved = archive.join(path.file_name().unwrap_or_default());
    std::fs::create_dir_all(&archive)
        .and_then(|()| std::fs::rename(&path, &moved))
        .map_err(|e| RpcError::internal(format!("{}: {e}", path.display())))?;
    after.push(("thread/archived", json!({"threadId": id})));
    Ok(json!({}))
}

fn thread_unarchive(server: &Server, params: ThreadId, after: &mut After) -> Reply {
    let id = &params.thread_id;
    let home = &server.options.codex_home;
    let path = history::find(home, id, true)
        .ok_or_else(|| RpcError::invalid(format!("no rollout found for thread id {id}")))?;
    // Back where it was made: sessions/YYYY/MM/DD, from the time in its name (rollout-YYYY-MM-DDTHH-MM-SS-...).
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    let date = name.strip_prefix("rollout-").and_then(|rest| rest.get(..10)).unwrap_or("1970-01-01");
    let dir = date.split('-').fold(home.join("sessions"), |dir, part| dir.join(part));
    let restored = dir.join(&name);
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::rename(&path, &restored))
        .map_err(|e| RpcError::internal(format!("{}: {e}", path.display())))?;
    let saved =
        history::read(&restored).ok_or_else(|| RpcError::invalid(format!("no rollout found for thread id {id}")))?;
    let thread = file_thread_json(server, &saved, vec![]);
    after.push(("thread/unarchived", json!({"threadId": id})));
    Ok(json!({"thread": thread}))
}

/// `CODEX_HOME/session_index.jsonl`: thread names, one `{"id", "thread_name", "updated_at"}` line per naming, the
/// last one for an id winning.
fn thread_names(codex_home: &Path) -> std::collections::HashMap<String, String> {
    let text = std::fs::read_to_string(codex_home.join("session_index.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| Some((v["id"].as_str()?.to_string(), v["thread_name"].as_str()?.to_string())))
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NameParams {
    thread_id: String,
    name: String,
}

fn thread_name_set(server: &Server, params: NameParams, after: &mut After) -> Reply {
    let id = &params.thread_id;
    let home = &server.options.codex_home;
    let loaded = server.thread(id);
    if loaded.is_none() && history::find(home, id, false).is_none() && history::find(home, id, true).is_none() {
        return Err(RpcError::invalid(format!("thread not found: {id}")));
    }
    let name = params.name.trim().to_string();
    if name.is_empty() {
        return Err(RpcError::invalid("Invalid request: a thread name cannot be empty"));
    }
    let line = json!({"id": id, "thread_name": name, "updated_at": jiff::Timestamp::now().to_string()});
    append_line(&home.join("session_index.jsonl"), &line.to_string()).map_err(|e| RpcError::internal(e.to_string()))?;
    if let Some(loaded) = loaded {
        *loaded.name.lock().expect("name") = Some(name.clone());
    }
    after.push(("thread/name/updated", json!({"threadId": id, "threadName": name})));
    Ok(json!({}))
}

fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(format!("{line}\n").as_bytes())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetadataParams {
    thread_id: String,
    #[serde(default)]
    git_info: Option<Value>,
}

/// Git metadata of a loaded thread, kept while it is loaded.
fn thread_metadata_update(server: &Server, params: MetadataParams) -> Reply {
    let id = &params.thread_id;
    let loaded = server.thread(id).ok_or_else(|| RpcError::invalid(format!("thread not loaded: {id}")))?;
    if let Some(Value::Object(patch)) = &params.git_info {
        let mut git = loaded.git_info.lock().expect("git info");
        let mut info = git.clone().unwrap_or_else(|| json!({"sha": null, "branch": null, "originUrl": null}));
        for key in ["sha", "branch", "originUrl"] {
            if let Some(value) = patch.get(key) {
                info[key] = value.clone();
            }
        }
        *git = Some(info);
    }
    Ok(json!({"thread": server.loaded_thread_json(&loaded, vec![])}))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ModelParams {
    cursor: Option<String>,
    limit: Option<usize>,
    include_hidden: Option<bool>,
}

/// The embedded catalog (what upstream 0.169.0's catalog holds of each model).
fn model_list(server: &Server, params: ModelParams) -> Reply {
    let _ = params.include_hidden;
    let default = server.load_config(&ThreadConfig::default()).map(|c| c.model).unwrap_or_default();
    let pack = rcodex_prompt_pack::embedded();
    let start: usize = params.cursor.as_deref().and_then(|c| c.parse().ok()).unwrap_or(0);
    let limit = params.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
    let models: Vec<Value> = pack
        .models
        .iter()
        .map(|m| {
            let efforts: Vec<Value> = m
                .supported_reasoning_levels
                .iter()
                .map(|level| json!({"reasoningEffort": level["effort"], "description": level["description"]}))
                .collect();
            json!({
                "id": m.slug,
                "model": m.slug,
                "upgrade": null,
                "upgradeInfo": null,
                "availabilityNux": null,
                "displayName": m.slug,
                "description": "",
                "modelSpecialty": null,
                "hidden": false,
                "supportedReasoningEfforts": efforts,
                "defaultReasoningEffort": m.default_reasoning_level.clone().unwrap_or_else(|| "medium".into()),
                "inputModalities": m.input_modalities,
                "supportsPersonality": false,
                "multiAgentVersion": null,
                "additionalSpeedTiers": [],
                "serviceTiers": [],
                "defaultServiceTier": null,
                "availableAccessPrograms": null,
                "isDefault": m.slug == default,
            })
        })
        .collect();
    let page: Vec<Value> = models.iter().skip(start).take(limit).cloned().collect();
    let next = (start + page.len() < models.len()).then(|| (start + page.len()).to_string());
    Ok(json!({"data": page, "nextCursor": next}))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ConfigReadParams {
    cwd: Option<String>,
}

/// The configuration rcodex runs with, in config.toml's keys.
fn config_read(server: &Server, params: ConfigReadParams) -> Reply {
    let config = server.load_config(&ThreadConfig { cwd: params.cwd, ..ThreadConfig::default() })?;
    Ok(json!({"config": config_json(&config), "origins": {}}))
}

fn config_json(config: &Config) -> Value {
    let providers: serde_json::Map<String, Value> = [(&config.model_provider_id, &config.model_provider)]
        .into_iter()
        .map(|(id, p)| {
            (
                id.clone(),
                json!({
                    "name": p.name, "base_url": p.base_url, "env_key": p.env_key,
                    "env_key_instructions": p.env_key_instructions, "wire_api": p.wire_api,
                    "query_params": p.query_params, "http_headers": p.http_headers,
                    "env_http_headers": p.env_http_headers, "request_max_retries": p.request_max_retries,
                    "stream_max_retries": p.stream_max_retries, "stream_idle_timeout_ms": p.stream_idle_timeout_ms,
                    "requires_openai_auth": p.requires_openai_auth,
                }),
            )
        })
        .collect();
    let options = &config.sandbox_workspace_write;
    json!({
        "model": config.model,
        "model_provider": config.model_provider_id,
        "approval_policy": config.approval_policy.as_str(),
        "sandbox_mode": config.sandbox_mode.as_str(),
        "sandbox_workspace_write": {
            "writable_roots": options.writable_roots,
            "network_access": options.network_access,
            "exclude_tmpdir_env_var": options.exclude_tmpdir_env_var,
            "exclude_slash_tmp": options.exclude_slash_tmp,
        },
        "model_reasoning_effort": config.model_reasoning_effort,
        "model_reasoning_summary": config.model_reasoning_summary,
        "model_verbosity": config.model_verbosity,
        "model_providers": providers,
        "project_doc_max_bytes": config.project_doc_max_bytes,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WriteParams {
    key_path: String,
    value: Value,
    merge_strategy: String,
    #[serde(default)]
    file_path: Option<String>,
    #[serde(default)]
    expected_version: Option<String>,
}

/// Sets one key of config.toml (`a.b.c`), replacing its value or, with `upsert`, merging tables into it. The file
/// is rewritten from its parsed form: comments are not kept.
fn config_value_write(server: &Server, params: WriteParams) -> Reply {
    let path = params.file_path.map(PathBuf::from).unwrap_or_else(|| server.options.codex_home.join("config.toml"));
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    if let Some(expected) = &params.expected_version
        && *expected != version(&text)
    {
        return Err(RpcError::invalid(format!(
            "config version mismatch: {} changed since it was read",
            path.display()
        )));
    }
    let mut table: toml::Table =
        toml::from_str(&text).map_err(|e| RpcError::invalid(format!("{}: {e}", path.display())))?;
    let keys: Vec<&str> = params.key_path.split('.').collect();
    let (last, parents) = keys.split_last().ok_or_else(|| RpcError::invalid("Invalid request: empty keyPath"))?;
    let mut at = &mut table;
    for key in parents {
        let entry = at.entry(key.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        at = entry
            .as_table_mut()
            .ok_or_else(|| RpcError::invalid(format!("`{key}` is not a table in {}", path.display())))?;
    }
    if params.value.is_null() {
        at.remove(*last);
    } else {
        let value = toml::Value::try_from(&params.value)
            .map_err(|e| RpcError::invalid(format!("Invalid request: value: {e}")))?;
        match (params.merge_strategy.as_str(), at.get_mut(*last), value) {
            ("upsert", Some(toml::Value::Table(existing)), toml::Value::Table(new)) => existing.extend(new),
            (_, _, value) => {
                at.insert(last.to_string(), value);
            }
        }
    }
    let text = toml::to_string(&table).map_err(|e| RpcError::internal(e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| RpcError::internal(e.to_string()))?;
    }
    std::fs::write(&path, &text).map_err(|e| RpcError::internal(format!("{}: {e}", path.display())))?;
    Ok(json!({"status": "ok", "version": version(&text), "filePath": path, "overriddenMetadata": null}))
}

/// A file's version, as upstream names it: the SHA-256 of its text.
fn version(text: &str) -> String {
    let digest = sha2::Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SkillsParams {
    cwds: Vec<String>,
}

/// The skills each directory has, as a thread there finds them (`rcodex_core::skills`), in upstream's loading order
/// (repo, user, system, admin skills, each by name), and the skill files that could not be read. rcodex does not
/// install upstream's system skills, so none are listed; the model is told of them all the same.
fn skills_list(server: &Server, params: SkillsParams) -> Reply {
    let cwds = if params.cwds.is_empty() {
        vec![std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default()]
    } else {
        params.cwds
    };
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let data: Vec<Value> = cwds
        .into_iter()
        .map(|cwd| {
            let found = rcodex_core::skills::discover(Path::new(&cwd), &server.options.codex_home, home.as_deref());
            let mut skills = found.skills;
            let loading_rank = |scope| {
                use rcodex_core::skills::Scope;
                [Scope::Repo, Scope::User, Scope::System, Scope::Admin].iter().position(|s| *s == scope)
            };
            skills.sort_by(|a, b| {
                (loading_rank(a.scope), &a.name, &a.path).cmp(&(loading_rank(b.scope), &b.name, &b.path))
            });
            let skills: Vec<Value> = skills
                .iter()
                .map(|skill| {
                    json!({"name": skill.name, "description": skill.description, "path": skill.path,
                        "scope": skill.scope.as_str(), "enabled": true})
                })
                .collect();
            let errors: Vec<Value> =
                found.errors.iter().map(|e| json!({"path": e.path, "message": e.message})).collect();
            json!({"cwd": cwd, "skills": skills, "errors": errors})
        })
        .collect();
    Ok(json!({"data": data}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecParams {
    command: Vec<String>,
    #[serde(default)]
    cwd: Option<String>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    env: Option<serde_json::Map<String, Value>>,
}

/// Runs a command outside any thread, in the configured sandbox, to its end (10 s unless `timeoutMs`).
async fn command_exec(server: &Server, params: ExecParams) -> Reply {
    if params.command.is_empty() {
        return Err(RpcError::invalid("Invalid request: command must not be empty"));
    }
    let config = server.load_config(&ThreadConfig { cwd: params.cwd.clone(), ..ThreadConfig::default() })?;
    let argv: Vec<std::ffi::OsString> = params.command.iter().map(Into::into).collect();
    let wrapped =
        rcodex_sandbox::command_argv(&config.sandbox_policy(), &config.cwd, &server.options.sandbox_launcher, &argv);
    let (program, args) = wrapped.split_first().ok_or_else(|| RpcError::invalid("Invalid request: empty command"))?;
    let mut command = tokio::process::Command::new(program);
    command.args(args).current_dir(&config.cwd).stdin(std::process::Stdio::null()).kill_on_drop(true);
    for (key, value) in params.env.unwrap_or_default() {
        match value {
            Value::String(value) => {
                command.env(key, value);
            }
            _ => {
                command.env_remove(key);
            }
        }
    }
    let timeout = std::time::Duration::from_millis(params.timeout_ms.unwrap_or(10_000));
    let output = match tokio::time::timeout(timeout, command.output()).await {
        Ok(output) => output.map_err(|e| RpcError::invalid(format!("failed to start {}: {e}", params.command[0])))?,
        Err(_) => return Err(RpcError::invalid(format!("command timed out after {} ms", timeout.as_millis()))),
    };
    use std::os::unix::process::ExitStatusExt;
    let code = output.status.code().or_else(|| output.status.signal().map(|s| 128 + s)).unwrap_or(-1);
    Ok(json!({
        "exitCode": code,
        "stdout": String::from_utf8_lossy(&output.stdout),
        "stderr": String::from_utf8_lossy(&output.stderr),
    }))
}

#[derive(Deserialize)]
struct SearchParams {
    query: String,
    roots: Vec<String>,
}

/// Files under the roots whose path holds the query's characters in order (case-insensitive), best first: fewer
/// gaps, matches in the file name, shorter paths. Hidden directories and `target`/`node_modules` are skipped.
async fn fuzzy_file_search(params: SearchParams) -> Reply {
    let files = tokio::task::spawn_blocking(move || crate::search::search(&params.query, &params.roots, 50))
        .await
        .map_err(|e| RpcError::internal(e.to_string()))?;
    Ok(json!({"files": files}))
}
