//! `rcodex mcp list|get|add|remove`: the `[mcp_servers]` of `CODEX_HOME/config.toml`, shown and edited as
//! upstream 0.169.0's `codex mcp` shows and writes them (its outputs and files were observed by running it; the
//! tests compare against what it wrote).
//!
//! Editing keeps the rest of config.toml as it is (`toml_edit`); the `[mcp_servers]` tables are written anew, each
//! server's keys in upstream's order, as upstream rewrites them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use toml_edit::{Array, DocumentMut, Item, Table};

#[derive(Args)]
pub struct McpArgs {
    #[command(subcommand)]
    action: McpAction,
}

#[derive(Subcommand)]
enum McpAction {
    /// List the configured MCP servers.
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one MCP server's configuration.
    Get {
        name: String,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add an MCP server (replacing one of the same name).
    #[command(override_usage = "rcodex mcp add [OPTIONS] <NAME> (--url <URL> | -- <COMMAND>...)")]
    Add(AddArgs),
    /// Remove an MCP server.
    Remove { name: String },
}

#[derive(Args)]
#[command(group = clap::ArgGroup::new("transport").required(true).args(["command", "url"]))]
struct AddArgs {
    /// Name for the MCP server configuration.
    name: String,
    /// Environment variables to set when launching the server (stdio servers only).
    #[arg(long, value_name = "KEY=VALUE", conflicts_with = "url")]
    env: Vec<String>,
    /// URL of a streamable HTTP MCP server.
    #[arg(long)]
    url: Option<String>,
    /// An environment variable holding a bearer token (streamable HTTP servers only).
    #[arg(long, value_name = "ENV_VAR", requires = "url")]
    bearer_token_env_var: Option<String>,
    /// Command to launch the MCP server (after `--`).
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

pub fn run(args: McpArgs) -> ExitCode {
    let home = match codex_home() {
        Ok(home) => home,
        Err(e) => return fail(&e),
    };
    let path = home.join("config.toml");
    let result = match args.action {
        McpAction::List { json } => list(&path, json),
        McpAction::Get { name, json } => get(&path, &name, json),
        McpAction::Add(add) => add_server(&path, add),
        McpAction::Remove { name } => remove(&path, &name),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("Error: {message}");
    ExitCode::FAILURE
}

fn codex_home() -> Result<PathBuf, String> {
    if let Some(home) = std::env::var_os("CODEX_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    let home = std::env::var_os("HOME").ok_or("HOME is not set, and neither is CODEX_HOME")?;
    Ok(PathBuf::from(home).join(".codex"))
}

fn read(path: &Path) -> Result<DocumentMut, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    text.parse::<DocumentMut>().map_err(|e| format!("{}: {e}", path.display()))
}

fn write(path: &Path, doc: &DocumentMut) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, doc.to_string()).map_err(|e| format!("{}: {e}", path.display()))
}

/// The servers of config.toml, in their order, as JSON values of their tables.
fn servers(doc: &DocumentMut) -> Vec<(String, Value)> {
    let Some(table) = doc.get("mcp_servers").and_then(Item::as_table_like) else { return Vec::new() };
    table.iter().map(|(name, item)| (name.to_string(), item_json(item))).collect()
}

fn item_json(item: &Item) -> Value {
    match item {
        Item::Value(value) => value_json(value),
        Item::Table(table) => Value::Object(table.iter().map(|(k, v)| (k.to_string(), item_json(v))).collect()),
        Item::ArrayOfTables(tables) => Value::Array(
            tables
                .iter()
                .map(|t| Value::Object(t.iter().map(|(k, v)| (k.to_string(), item_json(v))).collect()))
                .collect(),
        ),
        Item::None => Value::Null,
    }
}

fn value_json(value: &toml_edit::Value) -> Value {
    use toml_edit::Value as V;
    match value {
        V::String(s) => json!(s.value()),
        V::Integer(i) => json!(i.value()),
        V::Float(f) => json!(f.value()),
        V::Boolean(b) => json!(b.value()),
        V::Datetime(d) => json!(d.value().to_string()),
        V::Array(a) => Value::Array(a.iter().map(value_json).collect()),
        V::InlineTable(t) => Value::Object(t.iter().map(|(k, v)| (k.to_string(), value_json(v))).collect()),
    }
}

fn text<'a>(server: &'a Value, key: &str) -> Option<&'a str> {
    server.get(key).and_then(Value::as_str)
}

fn enabled(server: &Value) -> bool {
    server.get("enabled").and_then(Value::as_bool).unwrap_or(true)
}

fn strings(server: &Value, key: &str) -> Vec<String> {
    server
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// `A=*****, B=*****`: the names of the variables a server gets (its `env`, then `env_vars`), values hidden.
fn masked_env(server: &Value) -> String {
    let mut names: Vec<String> =
        server.get("env").and_then(Value::as_object).map(|env| env.keys().cloned().collect()).unwrap_or_default();
    names.extend(strings(server, "env_vars"));
    if names.is_empty() {
        "-".to_string()
    } else {
        names.iter().map(|n| format!("{n}=*****")).collect::<Vec<_>>().join(", ")
    }
}

fn or_dash(value: Option<&str>) -> String {
    value.filter(|v| !v.is_empty()).unwrap_or("-").to_string()
}

/// A table as upstream prints it: columns as wide as their widest cell, two spaces apart, every cell padded.
fn table(rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    rows.iter()
        .map(|row| row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect::<Vec<_>>().join("  ") + "\n")
        .collect()
}

fn status(server: &Value) -> &'static str {
    if enabled(server) { "enabled" } else { "disabled" }
}

fn list(path: &Path, as_json: bool) -> Result<(), String> {
    let servers = servers(&read(path)?);
    if as_json {
        let all: Vec<Value> = servers.iter().map(|(name, server)| summary_json(name, server, false)).collect();
        println!("{}", serde_json::to_string_pretty(&all).expect("JSON serializes"));
        return Ok(());
    }
    if servers.is_empty() {
        println!("No MCP servers configured yet. Try `codex mcp add my-tool -- my-command`.");
        return Ok(());
    }
    let mut stdio = vec![["Name", "Command", "Args", "Env", "Cwd", "Status", "Auth"].map(String::from).to_vec()];
    let mut http = vec![["Name", "Url", "Bearer Token Env Var", "Status", "Auth"].map(String::from).to_vec()];
    for (name, server) in &servers {
        if let Some(url) = text(server, "url") {
            let bearer = text(server, "bearer_token_env_var");
            let auth = if bearer.is_some() { "Bearer token" } else { "Unknown" };
            http.push(vec![name.clone(), url.to_string(), or_dash(bearer), status(server).into(), auth.into()]);
        } else {
            let args = strings(server, "args").join(" ");
            stdio.push(vec![
                name.clone(),
                or_dash(text(server, "command")),
                or_dash(Some(&args)),
                masked_env(server),
                or_dash(text(server, "cwd")),
                status(server).into(),
                "Unsupported".into(),
            ]);
        }
    }
    let tables: Vec<String> = [stdio, http].iter().filter(|t| t.len() > 1).map(|t| table(t)).collect();
    print!("{}", tables.join("\n"));
    Ok(())
}

/// A server as upstream's `--json` writes it (`detailed`: `get`'s, with the tool filters).
fn summary_json(name: &str, server: &Value, detailed: bool) -> Value {
    let transport = match text(server, "url") {
        Some(url) => json!({
            "type": "streamable_http",
            "url": url,
            "bearer_token_env_var": server.get("bearer_token_env_var").cloned().unwrap_or(Value::Null),
            "http_headers": server.get("http_headers").cloned().unwrap_or(Value::Null),
            "env_http_headers": server.get("env_http_headers").cloned().unwrap_or(Value::Null),
            "http_headers_helper": server.get("http_headers_helper").cloned().unwrap_or(Value::Null),
        }),
        None => json!({
            "type": "stdio",
            "command": text(server, "command").unwrap_or_default(),
            "args": strings(server, "args"),
            "env": server.get("env").cloned().unwrap_or(Value::Null),
            "env_vars": strings(server, "env_vars"),
            "cwd": server.get("cwd").cloned().unwrap_or(Value::Null),
        }),
    };
    let seconds = |key: &str| server.get(key).and_then(Value::as_f64).map_or(Value::Null, |s| json!(s));
    let mut out = serde_json::Map::new();
    out.insert("name".into(), json!(name));
    out.insert("enabled".into(), json!(enabled(server)));
    out.insert("disabled_reason".into(), Value::Null);
    out.insert("transport".into(), transport);
    if detailed {
        out.insert("enabled_tools".into(), server.get("enabled_tools").cloned().unwrap_or(Value::Null));
        out.insert("disabled_tools".into(), server.get("disabled_tools").cloned().unwrap_or(Value::Null));
    }
    out.insert("startup_timeout_sec".into(), seconds("startup_timeout_sec"));
    out.insert("tool_timeout_sec".into(), seconds("tool_timeout_sec"));
    if !detailed {
        let auth = match (text(server, "url"), text(server, "bearer_token_env_var")) {
            (None, _) => "unsupported",
            (Some(_), Some(_)) => "bearer_token",
            (Some(_), None) => "unknown",
        };
        out.insert("auth_status".into(), json!(auth));
    }
    Value::Object(out)
}

fn get(path: &Path, name: &str, as_json: bool) -> Result<(), String> {
    let servers = servers(&read(path)?);
    let (_, server) =
        servers.iter().find(|(n, _)| n == name).ok_or_else(|| format!("No MCP server named '{name}' found."))?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&summary_json(name, server, true)).expect("JSON serializes"));
        return Ok(());
    }
    if !enabled(server) {
        println!("{name} (disabled)");
        return Ok(());
    }
    println!("{name}");
    println!("  enabled: true");
    match text(server, "url") {
        Some(url) => {
            println!("  transport: streamable_http");
            println!("  url: {url}");
            println!("  bearer_token_env_var: {}", or_dash(text(server, "bearer_token_env_var")));
            for key in ["http_headers", "env_http_headers", "http_headers_helper"] {
                let shown = match server.get(key) {
                    Some(Value::Object(map)) if !map.is_empty() => {
                        map.keys().map(|k| format!("{k}=*****")).collect::<Vec<_>>().join(", ")
                    }
                    Some(Value::String(s)) => s.clone(),
                    _ => "-".to_string(),
                };
                println!("  {key}: {shown}");
            }
        }
        None => {
            println!("  transport: stdio");
            println!("  command: {}", or_dash(text(server, "command")));
            println!("  args: {}", or_dash(Some(&strings(server, "args").join(" "))));
            println!("  cwd: {}", or_dash(text(server, "cwd")));
            println!("  env: {}", masked_env(server));
        }
    }
    println!("  remove: codex mcp remove {name}");
    Ok(())
}

/// The keys of a server's table in the order upstream writes them; the others follow in their own order.
const KEY_ORDER: [&str; 16] = [
    "command",
    "args",
    "env",
    "env_vars",
    "cwd",
    "url",
    "bearer_token_env_var",
    "http_headers",
    "env_http_headers",
    "enabled",
    "startup_timeout_sec",
    "tool_timeout_sec",
    "enabled_tools",
    "disabled_tools",
    "default_tools_approval_mode",
    "tools",
];

/// A server's table as upstream rewrites it: its keys in [`KEY_ORDER`], timeouts as floats, `enabled` only when
/// false, empty lists left out, `env` as a table of its own.
fn canonical(server: &Table) -> Table {
    let mut out = Table::new();
    let mut keys: Vec<&str> = server.iter().map(|(k, _)| k).collect();
    keys.sort_by_key(|k| KEY_ORDER.iter().position(|o| o == k).unwrap_or(KEY_ORDER.len()));
    for key in keys {
        let item = server.get(key).expect("a key of the table").clone();
        let item = match (key, item) {
            ("enabled", item) if item.as_bool() == Some(true) => continue,
            ("args" | "env_vars", item) if item.as_array().is_some_and(Array::is_empty) => continue,
            ("startup_timeout_sec" | "tool_timeout_sec", item) => match item.as_integer() {
                Some(i) => toml_edit::value(i as f64),
                None => item,
            },
            ("env" | "http_headers" | "env_http_headers", item) => match item.as_table_like() {
                Some(map) if map.is_empty() => continue,
                Some(map) => {
                    let mut sub = Table::new();
                    for (k, v) in map.iter() {
                        sub.insert(k, v.clone());
                    }
                    Item::Table(sub)
                }
                None => item,
            },
            (_, item) => item,
        };
        out.insert(key, item);
    }
    out
}

/// Rewrites `[mcp_servers]` from `servers` (in order), keeping the rest of the document.
fn put_servers(doc: &mut DocumentMut, servers: Vec<(String, Table)>) {
    let mut all = Table::new();
    all.set_implicit(true);
    for (name, server) in servers {
        all.insert(&name, Item::Table(canonical(&server)));
    }
    if all.is_empty() {
        doc.remove("mcp_servers");
    } else {
        doc.insert("mcp_servers", Item::Table(all));
    }
}

fn server_tables(doc: &DocumentMut) -> Vec<(String, Table)> {
    let Some(table) = doc.get("mcp_servers").and_then(Item::as_table_like) else { return Vec::new() };
    table
        .iter()
        .map(|(name, item)| {
            let mut out = Table::new();
            if let Some(fields) = item.as_table_like() {
                for (k, v) in fields.iter() {
                    out.insert(k, v.clone());
                }
            }
            (name.to_string(), out)
        })
        .collect()
}

fn add_server(path: &Path, add: AddArgs) -> Result<(), String> {
    if !rcodex_core::mcp::valid_name(&add.name) {
        return Err(format!("invalid server name '{}' (use letters, numbers, '-', '_', ':', '@', '/', '.')", add.name));
    }
    let mut server = Table::new();
    match (&add.url, add.command.split_first()) {
        (Some(url), _) => {
            server.insert("url", toml_edit::value(url.as_str()));
            if let Some(var) = &add.bearer_token_env_var {
                server.insert("bearer_token_env_var", toml_edit::value(var.as_str()));
            }
        }
        (None, Some((command, args))) => {
            server.insert("command", toml_edit::value(command.as_str()));
            if !args.is_empty() {
                server.insert("args", toml_edit::value(args.iter().map(String::as_str).collect::<Array>()));
            }
            let mut env = Table::new();
            for pair in &add.env {
                let (key, value) = pair.split_once('=').ok_or_else(|| format!("--env {pair}: expected KEY=VALUE"))?;
                env.insert(key, toml_edit::value(value));
            }
            if !env.is_empty() {
                server.insert("env", Item::Table(env));
            }
        }
        (None, None) => return Err("give a command after `--`, or --url".into()),
    }
    let mut doc = read(path)?;
    let mut servers = server_tables(&doc);
    match servers.iter_mut().find(|(n, _)| *n == add.name) {
        Some((_, existing)) => *existing = server,
        None => servers.push((add.name.clone(), server)),
    }
    put_servers(&mut doc, servers);
    write(path, &doc)?;
    println!("Added global MCP server '{}'.", add.name);
    Ok(())
}

fn remove(path: &Path, name: &str) -> Result<(), String> {
    if !rcodex_core::mcp::valid_name(name) {
        return Err(format!("invalid server name '{name}' (use letters, numbers, '-', '_', ':', '@', '/', '.')"));
    }
    let mut doc = read(path)?;
    let mut servers = server_tables(&doc);
    let before = servers.len();
    servers.retain(|(n, _)| n != name);
    if servers.len() == before {
        println!("No MCP server named '{name}' found.");
        return Ok(());
    }
    put_servers(&mut doc, servers);
    write(path, &doc)?;
    println!("Removed global MCP server '{name}'.");
    Ok(())
}
