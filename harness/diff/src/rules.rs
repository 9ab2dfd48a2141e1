//! Normalization rules: the built-in set for Codex traffic, and a user's rules file on top of it.
//!
//! A rule selects values of the request document ([`Selector`]s, or everything) and does one thing to them
//! ([`Action`]). Structural actions (decode embedded JSON, remove, compare without order) apply wherever they
//! match; rewrites (fixed value, placeholder, regex, UUIDs, paths) apply to strings, in rule order, each to the parts
//! of the string earlier rules left as literal text. A user's rules come first, so they win over the built-in ones;
//! a user rule named like a built-in one replaces it in place, and `disable` turns built-in rules off by name.
//!
//! The file format is documented in `docs/diff.md`; in short:
//!
//! ```toml
//! disable = ["uuid-name-based"]
//!
//! [[paths]]
//! kind = "home"
//! path = "/home/alice"
//!
//! [[rule]]
//! name = "request-id"
//! select = ".headers.x-request-id"
//! placeholder = "request_id"
//!
//! [[rule]]
//! name = "pids"
//! select = ".body.input[*].output"
//! regex = 'pid (\d+)'
//! placeholder = "pid"          # or: replace = "pid <pid>"
//! ```

use std::path::Path;
use std::sync::Arc;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use crate::selector::Selector;
use crate::source::{FileError, Source};

/// One normalization rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique; named in `--explain` output, and by `disable`.
    pub name: String,
    /// What the rule is for, in words.
    pub description: String,
    /// Where it applies; empty means every value of the document.
    pub select: Vec<Selector>,
    pub action: Action,
    /// Whether the rule is one of [`RuleSet::builtin`]'s.
    pub builtin: bool,
}

/// What a rule does to the values it selects.
#[derive(Debug, Clone)]
pub enum Action {
    /// Parse a string holding a JSON object or array, and compare it as JSON.
    Json,
    /// Drop the value (an object entry or array element) from both sides.
    Remove,
    /// The object's key order (or the array's element order) means nothing: sort before comparing.
    Unordered,
    /// Replace a whole string (or number, or boolean) with a numbered placeholder of this kind.
    Placeholder(Arc<str>),
    /// Replace a whole string, number or boolean with `<kind>`, one placeholder for every value (the type is kept):
    /// for wall-clock values, whose equalities within a run mean nothing (a second boundary falls between two of
    /// them in one run and not in another), so numbering them would report broken relations.
    Mask(Arc<str>),
    /// Replace the value with this one.
    Fixed(Value),
    /// Rewrite each match of a regex in strings.
    Regex {
        regex: Regex,
        replace: Replace,
        /// Text every match contains: strings without it are not searched (a shortcut the built-in rules take).
        literal: Option<&'static str>,
    },
    /// Replace UUIDs of these versions with `<uuidV#n>` placeholders.
    Uuid { versions: Vec<u8> },
    /// Replace the recording's working directory, CODEX_HOME, HOME and the rules file's `[[paths]]` with
    /// `<cwd#n>`, `<codex_home#n>`, `<home#n>`, ... placeholders.
    Paths,
}

/// What a regex match becomes.
#[derive(Debug, Clone)]
pub enum Replace {
    /// A replacement string, `$1`-style references allowed.
    Template(String),
    /// A numbered placeholder: for the first capture group when the regex has one, else the whole match.
    Placeholder(Arc<str>),
}

impl Action {
    /// The action's name as the rules file spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Json => "json",
            Action::Remove => "remove",
            Action::Unordered => "unordered",
            Action::Placeholder(_) => "placeholder",
            Action::Mask(_) => "mask",
            Action::Fixed(_) => "value",
            Action::Regex { .. } => "regex",
            Action::Uuid { .. } => "uuid",
            Action::Paths => "paths",
        }
    }
}

/// A path the rules file names, to be replaced by a placeholder of its kind wherever it appears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraPath {
    pub kind: String,
    pub path: String,
}

/// The rules a normalization runs with.
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// In order of application.
    pub rules: Vec<Rule>,
    /// Paths named by the rules file, in addition to those derived from each recording.
    pub paths: Vec<ExtraPath>,
}

impl Default for RuleSet {
    fn default() -> Self {
        RuleSet::builtin()
    }
}

fn selectors(sources: &[&str]) -> Vec<Selector> {
    sources.iter().map(|s| Selector::parse(s).expect("built-in selectors parse")).collect()
}

fn builtin(name: &str, description: &str, select: &[&str], action: Action) -> Rule {
    Rule {
        name: name.to_string(),
        description: description.to_string(),
        select: selectors(select),
        action,
        builtin: true,
    }
}

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("built-in regexes compile")
}

impl RuleSet {
    /// The built-in rules for Codex traffic (documented in `docs/diff.md`).
    pub fn builtin() -> RuleSet {
        let ph = |kind: &str| Replace::Placeholder(kind.into());
        let rules = vec![
            builtin(
                "embedded-json",
                "JSON sent inside strings is compared as JSON: the turn metadata header, client_metadata values and \
                 tool-call arguments",
                &[".headers.x-codex-turn-metadata", ".body.client_metadata.*", ".body.input[*].arguments"],
                Action::Json,
            ),
            builtin(
                "unordered-maps",
                "Maps whose key order means nothing: headers, client_metadata (a hash map upstream), the turn \
                 metadata and its workspaces",
                &[
                    ".headers",
                    ".body.client_metadata",
                    ".headers.x-codex-turn-metadata",
                    ".body.client_metadata[\"x-codex-turn-metadata\"]",
                    ".headers.x-codex-turn-metadata.workspaces",
                    ".body.client_metadata[\"x-codex-turn-metadata\"].workspaces",
                ],
                Action::Unordered,
            ),
            builtin(
                "host-header",
                "The host header names the server's address, which changes with every run",
                &[".headers.host"],
                Action::Fixed(Value::String("<host>".into())),
            ),
            builtin(
                "content-length-header",
                "content-length follows the body, whose differences are reported where they are",
                &[".headers.content-length"],
                Action::Fixed(Value::String("<content-length>".into())),
            ),
            builtin(
                "websocket-key",
                "sec-websocket-key, a random nonce of each WebSocket upgrade (kept as its redacted fingerprint)",
                &[".headers.sec-websocket-key"],
                Action::Fixed(Value::String("<sec-websocket-key>".into())),
            ),
            builtin(
                "user-agent-os",
                "The operating system and its version in user-agent (the first parenthesized part)",
                &[".headers.user-agent"],
                Action::Regex {
                    regex: regex(r"^(\S+ )\([^;()]*;"),
                    replace: Replace::Template("${1}(<os>;".into()),
                    literal: None,
                },
            ),
            builtin(
                "user-agent-version",
                "Version numbers in user-agent",
                &[".headers.user-agent"],
                Action::Regex {
                    regex: regex(r"\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?"),
                    replace: Replace::Template("<version>".into()),
                    literal: None,
                },
            ),
            builtin(
                "paths",
                "The working directory, workspace roots, CODEX_HOME and HOME, found in the recording itself \
                 (environment_context, skill roots), plus the rules file's [[paths]]",
                &[],
                Action::Paths,
            ),
            builtin(
                "temp-dirs",
                "Temporary directories made by mktemp, Rust's tempfile or Python's tempfile",
                &[],
                Action::Regex {
                    regex: regex(r"/tmp/\.?tmp[._]?[A-Za-z0-9_]{6,}"),
                    replace: ph("tmp"),
                    literal: Some("/tmp/"),
                },
            ),
            builtin(
                "timestamps",
                "Wall-clock times in the turn metadata",
                &[
                    ".headers.x-codex-turn-metadata.turn_started_at_unix_ms",
                    ".body.client_metadata[\"x-codex-turn-metadata\"].turn_started_at_unix_ms",
                    ".body.client_metadata[\"x-codex-ws-stream-request-start-ms\"]",
                ],
                Action::Placeholder("unix_ms".into()),
            ),
            builtin(
                "message-create-times",
                "The wall-clock creation time (Unix seconds, fractional) the built-in provider's requests give each \
                 input item in internal_chat_message_metadata_passthrough",
                &[".body.input[*].internal_chat_message_metadata_passthrough.create_time"],
                Action::Fixed(Value::String("<unix_s>".into())),
            ),
            builtin(
                "current-date",
                "The date in environment_context",
                &[],
                Action::Regex {
                    regex: regex(r"<current_date>([^<]*)</current_date>"),
                    replace: ph("date"),
                    literal: Some("<current_date>"),
                },
            ),
            builtin(
                "uuid-random",
                "Random and time-based UUIDs (v4, v7 and every version but 3 and 5) wherever they appear, and so \
                 the ids built on them: thread, session, turn, window and installation ids, prompt_cache_key, \
                 msg_/fco_/ctco_ item ids, client-made call ids",
                &[],
                Action::Uuid { versions: vec![1, 2, 4, 6, 7, 8] },
            ),
            builtin(
                "uuid-name-based",
                "Name-based UUIDs (v3, v5): Codex 0.169 derives the first developer message's id from the thread, \
                 so it differs between runs too; kept apart from the random kinds, so that a v5 id answered by a \
                 v7 one is still a divergence",
                &[],
                Action::Uuid { versions: vec![3, 5] },
            ),
            Rule {
                select: volatile_id_selectors(),
                ..builtin(
                    "volatile-ids",
                    "Session, thread, turn, window and installation ids and prompt_cache_key that are not UUIDs, \
                     in headers, client_metadata and the turn metadata",
                    &[],
                    Action::Placeholder("id".into()),
                )
            },
            builtin(
                "tool-output-chunk-id",
                "`Chunk ID:` lines of tool outputs",
                &[".body.input[*].output.**"],
                Action::Regex {
                    regex: regex(r"(?m)^Chunk ID: \S+"),
                    replace: Replace::Template("Chunk ID: <chunk_id>".into()),
                    literal: Some("Chunk ID: "),
                },
            ),
            builtin(
                "exec-session-ids",
                "Unified-exec session ids, random upstream, in `Process running with session ID N` lines of tool \
                 outputs",
                &[".body.input[*].output.**"],
                Action::Regex {
                    regex: regex(r"(?m)^Process running with session ID (\d+)"),
                    replace: ph("exec_session"),
                    literal: Some("Process running with session ID "),
                },
            ),
            builtin(
                "exec-session-id-arguments",
                "The `session_id` argument of calls that continue a unified-exec session (write_stdin): the same \
                 placeholder kind as the outputs, so a call that answers another session is still a divergence",
                &[".body.input[*].arguments.session_id"],
                Action::Placeholder("exec_session".into()),
            ),
            builtin(
                "agent-nicknames",
                "The nickname a spawned sub-agent gets (`\"nickname\":\"Kuhn\"` in spawn_agent outputs), which \
                 upstream draws at random: a placeholder, so one agent named twice is still one name",
                &[".body.input[*].output.**"],
                Action::Regex {
                    regex: regex(r#""nickname":"([^"\\]*)""#),
                    replace: ph("agent_nickname"),
                    literal: Some("\"nickname\":\""),
                },
            ),
            builtin(
                "tool-output-wall-time",
                "`Wall time:` lines of tool outputs, and code mode's `Wall time N seconds` headers",
                &[".body.input[*].output.**"],
                Action::Regex {
                    regex: regex(r"(?m)^Wall time(:?) [0-9.]+ seconds"),
                    replace: Replace::Template("Wall time${1} <seconds> seconds".into()),
                    literal: Some("Wall time"),
                },
            ),
            builtin(
                "goal-times",
                "The wall-clock fields of the goal in goal tool outputs (get_goal, create_goal, update_goal): \
                 `timeUsedSeconds`, and `createdAt` and `updatedAt` (Unix seconds) as one value, since a second \
                 boundary may fall between them in one run and not in another",
                &[".body.input[*].output.**"],
                Action::Regex {
                    regex: regex(r#""tokensUsed":(\d+),"timeUsedSeconds":\d+,"createdAt":\d+,"updatedAt":\d+"#),
                    replace: Replace::Template(
                        r#""tokensUsed":${1},"timeUsedSeconds":<seconds>,"createdAt":<unix_s>,"updatedAt":<unix_s>"#
                            .into(),
                    ),
                    literal: Some("\"timeUsedSeconds\":"),
                },
            ),
        ];
        let mut rules = rules;
        rules.extend(event_rules());
        RuleSet { rules, paths: Vec::new() }
    }

    /// The built-in rules with a rules file applied.
    pub fn load(path: &Path) -> Result<RuleSet, FileError> {
        let mut text = String::new();
        let source = Source::read(path, &mut text)?;
        RuleSet::builtin().with_file(&source)
    }

    /// The built-in rules with a rules file's text applied; `path` names the file in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<RuleSet, FileError> {
        RuleSet::builtin().with_file(&Source { path, text })
    }

    fn with_file(mut self, source: &Source<'_>) -> Result<RuleSet, FileError> {
        let file: RulesFile = source.parse()?;
        for name in &file.disable {
            let before = self.rules.len();
            self.rules.retain(|r| !(r.builtin && r.name == *name.get_ref()));
            if self.rules.len() == before {
                return Err(source.error_at(
                    name.span(),
                    format!(
                        "disable: there is no built-in rule named \"{}\"; the built-in rules are: {}",
                        name.get_ref(),
                        builtin_names().join(", ")
                    ),
                ));
            }
        }
        for entry in file.paths {
            let path = entry.path.get_ref().trim_end_matches('/');
            if !path.starts_with('/') || path.len() < 2 {
                return Err(source.error_at(entry.path.span(), "paths: `path` must be an absolute path other than `/`"));
            }
            let kind = entry.kind.unwrap_or_else(|| Spanned::new(0..0, "path".into()));
            check_kind(source, &kind)?;
            self.paths.push(ExtraPath { kind: kind.into_inner(), path: path.to_string() });
        }
        let mut own = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for entry in file.rule {
            let rule = RuleEntry::into_rule(entry, source)?;
            if seen.contains(&rule.name) {
                return Err(source.error(format!("two rules are named \"{}\"; names must be unique", rule.name)));
            }
            seen.push(rule.name.clone());
            match self.rules.iter_mut().find(|r| r.name == rule.name) {
                Some(existing) => *existing = rule,
                None => own.push(rule),
            }
        }
        own.append(&mut self.rules);
        self.rules = own;
        Ok(self)
    }
}

/// Where Codex puts session, thread, turn, window and installation ids: named headers, `prompt_cache_key`, and
/// these keys of client_metadata and of the turn metadata (in its header and in client_metadata). Spelled out
/// rather than `.**.turn_id`, which would be matched against every value of every request.
fn volatile_id_selectors() -> Vec<Selector> {
    let mut sources: Vec<String> = [
        ".headers.session-id",
        ".headers.session_id",
        ".headers.thread-id",
        ".headers.x-client-request-id",
        ".headers.x-codex-window-id",
        ".headers.x-codex-installation-id",
        ".headers.x-codex-parent-thread-id",
        ".body.prompt_cache_key",
    ]
    .map(String::from)
    .to_vec();
    let maps =
        [".headers.x-codex-turn-metadata", ".body.client_metadata", ".body.client_metadata[\"x-codex-turn-metadata\"]"];
    let keys = [
        "session_id",
        "thread_id",
        "turn_id",
        "root_turn_id",
        "parent_turn_id",
        "parent_thread_id",
        "forked_from_thread_id",
        "installation_id",
        "window_id",
        "context_window_id",
        "x-codex-installation-id",
        "x-codex-window-id",
        "x-codex-parent-thread-id",
    ];
    for map in maps {
        sources.extend(keys.iter().map(|k| format!("{map}[\"{k}\"]")));
    }
    sources.iter().map(|s| Selector::parse(s).expect("built-in selectors parse")).collect()
}

/// The built-in rules for the agent's own event streams (`docs/diff.md`, "The agent's event streams"). Their
/// selectors are rooted at the event documents' own keys (`events`, `messages`, `responses`, `ambient`), so that
/// they never cost a request's normalization anything; the rules that apply everywhere (paths, UUIDs, temporary
/// directories) need no copy here.
fn event_rules() -> Vec<Rule> {
    let ph = |kind: &str| Replace::Placeholder(kind.into());
    /// The roots of the app-server documents: the ordered messages, the responses, the ambient notifications.
    const FRONTEND: [&str; 3] = [".messages", ".responses", ".ambient"];
    let under = |keys: &[&str]| -> Vec<Selector> {
        let mut sources = Vec::new();
        for root in FRONTEND {
            sources.extend(keys.iter().map(|k| format!("{root}.**.{k}")));
        }
        selectors(&sources.iter().map(String::as_str).collect::<Vec<_>>())
    };
    vec![
        Rule {
            select: {
                let mut s = selectors(&[".events[*].thread_id"]);
                s.extend(under(&["threadId", "turnId", "thread_id", "turn_id", "sessionId", "forkedFromId"]));
                s.extend(selectors(&[".messages[*].params.thread.id", ".messages[*].params.turn.id"]));
                s.extend(selectors(&[
                    ".responses[*].response.result.thread.id",
                    ".responses[*].response.result.turn.id",
                ]));
                s
            },
            ..builtin(
                "events-ids",
                "Thread, turn and session ids in the agent's events that are not UUIDs (UUIDs are uuid-random's, \
                 with the same numbering as in the requests)",
                &[],
                Action::Placeholder("id".into()),
            )
        },
        builtin(
            "events-item-ids",
            "exec's item ids (item_0, item_1...), numbered in the order items start: tools called together start \
             in any order, so the numbers are compared by relation (started and completed name the same item)",
            &[".events[*].item.id"],
            Action::Regex { regex: regex(r"^item_(\d+)$"), replace: ph("item"), literal: Some("item_") },
        ),
        Rule {
            select: under(&[
                "createdAt",
                "updatedAt",
                "startedAt",
                "completedAt",
                "archivedAt",
                "lastUsedAt",
                "resetsAt",
                "recencyAt",
                "createdAtMs",
                "startedAtMs",
                "completedAtMs",
                "emittedAtMs",
                "modifiedAtMs",
                "started_at",
                "completed_at",
            ]),
            ..builtin(
                "events-timestamps",
                "Wall-clock times in app-server messages (threads', turns' and items' createdAt, startedAt, \
                 completedAt..., rate limits' resetsAt), masked: one <unix_time> for all, the type kept",
                &[],
                Action::Mask("unix_time".into()),
            )
        },
        Rule {
            select: under(&["durationMs", "duration_ms", "timeUsedSeconds"]),
            ..builtin(
                "events-durations",
                "Durations in app-server messages (a command's durationMs, a goal's timeUsedSeconds), masked",
                &[],
                Action::Mask("duration".into()),
            )
        },
        Rule {
            select: under(&["processId"]),
            ..builtin(
                "events-process-ids",
                "Unified-exec process ids of command items, random upstream: the kind of exec-session-ids, so \
                 that an item names the session its tool output named",
                &[],
                Action::Placeholder("exec_session".into()),
            )
        },
        Rule {
            select: selectors(&[".messages.**", ".responses.**", ".ambient.**"]),
            ..builtin(
                "events-rollout-path",
                "The date and time in a thread's rollout file (CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<id>)",
                &[],
                Action::Regex {
                    regex: regex(r"sessions/\d{4}/\d{2}/\d{2}/rollout-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}"),
                    replace: Replace::Template("sessions/<date>/rollout-<time>".into()),
                    literal: Some("rollout-"),
                },
            )
        },
    ]
}

/// The names of the built-in rules, in order.
pub fn builtin_names() -> Vec<String> {
    RuleSet::builtin().rules.into_iter().map(|r| r.name).collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    disable: Vec<Spanned<String>>,
    #[serde(default)]
    paths: Vec<PathEntry>,
    #[serde(default)]
    rule: Vec<Spanned<RuleEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PathEntry {
    path: Spanned<String>,
    #[serde(default)]
    kind: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    name: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    select: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    json: Option<Spanned<bool>>,
    #[serde(default)]
    remove: Option<Spanned<bool>>,
    #[serde(default)]
    unordered: Option<Spanned<bool>>,
    #[serde(default)]
    placeholder: Option<Spanned<String>>,
    #[serde(default)]
    mask: Option<Spanned<String>>,
    #[serde(default)]
    value: Option<Spanned<toml::Value>>,
    #[serde(default)]
    regex: Option<Spanned<String>>,
    #[serde(default)]
    replace: Option<Spanned<String>>,
}

fn check_kind(source: &Source<'_>, kind: &Spanned<String>) -> Result<(), FileError> {
    let k = kind.get_ref();
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        return Err(
            source.error_at(kind.span(), format!("placeholder kind \"{k}\" must be letters, digits, `_`, `-` or `.`"))
        );
    }
    Ok(())
}

impl RuleEntry {
    fn into_rule(spanned: Spanned<RuleEntry>, source: &Source<'_>) -> Result<Rule, FileError> {
        let span = spanned.span();
        let entry = spanned.into_inner();
        let name = entry.name.get_ref().trim().to_string();
        if name.is_empty() {
            return Err(source.error_at(entry.name.span(), "rule: `name` must not be empty"));
        }
        let fail = |span: std::ops::Range<usize>, message: String| {
            source.error_at(span, format!("rule \"{name}\": {message}"))
        };
        let select = match entry.select {
            None => Vec::new(),
            Some(select) => {
                let span = select.span();
                let list = match select.into_inner() {
                    OneOrMany::One(s) => vec![s],
                    OneOrMany::Many(list) => list,
                };
                list.iter()
                    .map(|s| Selector::parse(s).map_err(|e| fail(span.clone(), format!("select `{s}`: {e}"))))
                    .collect::<Result<_, _>>()?
            }
        };
        let flag = |f: &Option<Spanned<bool>>| f.as_ref().is_some_and(|b| *b.get_ref());
        let mut actions: Vec<(&str, Action)> = Vec::new();
        if flag(&entry.json) {
            actions.push(("json", Action::Json));
        }
        if flag(&entry.remove) {
            actions.push(("remove", Action::Remove));
        }
        if flag(&entry.unordered) {
            actions.push(("unordered", Action::Unordered));
        }
        if let Some(value) = &entry.value {
            let json = serde_json::to_value(value.get_ref()).map_err(|e| fail(value.span(), format!("value: {e}")))?;
            actions.push(("value", Action::Fixed(json)));
        }
        if let Some(kind) = &entry.placeholder {
            check_kind(source, kind)?;
        }
        if let Some(kind) = &entry.mask {
            check_kind(source, kind)?;
            actions.push(("mask", Action::Mask(kind.get_ref().as_str().into())));
        }
        match (&entry.regex, &entry.replace, &entry.placeholder) {
            (Some(pattern), replace, placeholder) => {
                let regex = Regex::new(pattern.get_ref()).map_err(|e| fail(pattern.span(), format!("regex: {e}")))?;
                let replace = match (replace, placeholder) {
                    (Some(template), None) => Replace::Template(template.get_ref().clone()),
                    (None, Some(kind)) => Replace::Placeholder(kind.get_ref().as_str().into()),
                    (Some(template), Some(_)) => {
                        return Err(fail(
                            template.span(),
                            "give `replace` or `placeholder` with `regex`, not both".into(),
                        ));
                    }
                    (None, None) => {
                        return Err(fail(
                            pattern.span(),
                            "`regex` needs `replace = \"...\"` or `placeholder = \"kind\"`".into(),
                        ));
                    }
                };
                actions.push(("regex", Action::Regex { regex, replace, literal: None }));
            }
            (None, Some(replace), _) => {
                return Err(fail(replace.span(), "`replace` only goes with `regex`".into()));
            }
            (None, None, Some(kind)) => {
                actions.push(("placeholder", Action::Placeholder(kind.get_ref().as_str().into())));
            }
            (None, None, None) => {}
        }
        let action = match actions.len() {
            1 => actions.pop().expect("one action").1,
            0 => {
                return Err(fail(
                    span,
                    "no action: give one of json, remove, unordered, value, placeholder, mask, or regex with \
                     replace or placeholder"
                        .into(),
                ));
            }
            _ => {
                let names: Vec<&str> = actions.iter().map(|(n, _)| *n).collect();
                return Err(fail(
                    span,
                    format!("one action per rule, this one has {}; split it into several rules", names.join(" and ")),
                ));
            }
        };
        if select.is_empty() && matches!(action, Action::Remove | Action::Fixed(_)) {
            return Err(fail(
                span,
                format!("`{}` without `select` would apply to the whole document; say where", action.name()),
            ));
        }
        Ok(Rule { name, description: entry.description.unwrap_or_default(), select, action, builtin: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<RuleSet, FileError> {
        RuleSet::from_toml(text, Path::new("rules.toml"))
    }

    fn err(text: &str) -> String {
        load(text).unwrap_err().to_string()
    }

    #[test]
    fn builtin_rules_have_unique_names_and_descriptions() {
        let names = builtin_names();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        assert!(RuleSet::builtin().rules.iter().all(|r| !r.description.is_empty()));
    }

    #[test]
    fn every_builtin_rule_is_documented() {
        let docs = include_str!("../../../docs/diff.md");
        for name in builtin_names() {
            assert!(docs.contains(&format!("| `{name}` |")), "docs/diff.md does not document `{name}`");
        }
    }

    #[test]
    fn user_rules_come_first_replace_builtins_by_name_and_disable_them() {
        let set = load(
            r#"
disable = ["temp-dirs"]

[[paths]]
path = "/home/alice/"
kind = "home"

[[rule]]
name = "request-id"
select = [".headers.x-request-id", ".body.metadata.request_id"]
placeholder = "request_id"

[[rule]]
name = "host-header"
select = ".headers.host"
remove = true

[[rule]]
name = "pids"
regex = 'pid (\d+)'
placeholder = "pid"
"#,
        )
        .unwrap();
        let names: Vec<&str> = set.rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(&names[..2], ["request-id", "pids"]);
        assert!(!names.contains(&"temp-dirs"));
        let host = set.rules.iter().find(|r| r.name == "host-header").unwrap();
        assert!(matches!(host.action, Action::Remove) && !host.builtin);
        assert_eq!(set.rules[0].select.len(), 2);
        assert_eq!(set.paths, [ExtraPath { kind: "home".into(), path: "/home/alice".into() }]);
    }

    #[test]
    fn invalid_rules_are_located() {
        assert_eq!(
            err("[[rule]]\nname = \"x\"\nselect = \".body[1:2]\"\nremove = true\n"),
            "rules.toml:3:10: rule \"x\": select `.body[1:2]`: `[1:2]` at column 6: expected an index, `*` or a \
             quoted key (ranges are not supported)"
        );
        assert!(
            err("[[rule]]\nname = \"x\"\nregex = '('\nreplace = \"y\"\n")
                .starts_with("rules.toml:3:9: rule \"x\": regex: regex parse error")
        );
        assert!(err("[[rule]]\nname = \"x\"\nselect = \".a\"\n").contains("rules.toml:1:1: rule \"x\": no action"));
        assert!(
            err("[[rule]]\nname = \"x\"\nselect = \".a\"\nremove = true\nunordered = true\n")
                .contains("one action per rule, this one has remove and unordered")
        );
        assert!(err("[[rule]]\nname = \"x\"\nremove = true\n").contains("would apply to the whole document"));
        assert!(err("[[rule]]\nname = \"x\"\nregex = 'a'\n").contains("needs `replace"));
        assert!(err("[[rule]]\nname = \"x\"\nselect = '.a'\nreplace = 'b'\n").contains("only goes with `regex`"));
        assert!(
            err("disable = [\"nope\"]\n")
                .starts_with("rules.toml:1:12: disable: there is no built-in rule named \"nope\"")
        );
        assert!(
            err("[[rule]]\nname = \"x\"\nselect = '.a'\nplaceholder = 'a b'\n")
                .contains("rules.toml:4:15: placeholder kind")
        );
        assert!(
            err("[[rule]]\nname = \"x\"\nselect = '.a'\nremve = true\n")
                .contains("rules.toml:4:1: unknown field `remve`")
        );
        assert!(
            err("[[paths]]\npath = \"relative\"\n").contains("rules.toml:2:8: paths: `path` must be an absolute path")
        );
        assert!(
            err("[[rule]]\nname = \"a\"\njson = true\n[[rule]]\nname = \"a\"\njson = true\n")
                .contains("two rules are named \"a\"")
        );
        assert!(err("rule = [").starts_with("rules.toml:1:"));
    }
}
