//! Normalization: a recording and a rule set in, one normalized document per request out.
//!
//! Each request is seen as one document (see [`document`]):
//!
//! ```text
//! { "method": "POST", "path": "/v1/responses", "query": "...", "headers": { "<lowercase name>": "value", ... },
//!   "body": { ... }, "raw_body": { ... } }
//! ```
//!
//! so that rules, divergences and JSON pointers all say plainly whether a value is a header (`/headers/thread-id`) or
//! in the body (`/body/input/2/content/0/text`). A header sent more than once holds the list of its values.
//!
//! The walk is pre-order and deterministic: unordered maps are sorted before their children are visited, so that
//! placeholders, numbered per kind by first appearance across the whole recording, come out equal for equal
//! structure. Normalization is a pure function of the recording and the rules.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use parity_capture::{CapturedRequest, Recording};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::events::EventLog;
use crate::node::{Node, Object, Placeholder, ScalarType, Segment, text_node};
use crate::paths::{KnownPath, PathFinder, derive, run_dir};
use crate::rules::{Action, ExtraPath, Replace, Rule, RuleSet};
use crate::selector::{Selector, States, Step, escape_token};

/// What normalization records besides the documents.
#[derive(Debug, Clone, Copy)]
pub struct NormalizeOptions {
    /// Record every change a rule made ([`Touch`]), for `--explain`.
    pub explain: bool,
    /// Compare the agent's event streams found beside the recordings ([`crate::diff_recordings`] reads them).
    pub events: bool,
}

impl Default for NormalizeOptions {
    fn default() -> Self {
        NormalizeOptions { explain: false, events: true }
    }
}

/// A recording after normalization.
#[derive(Debug, Clone)]
pub struct NormalizedRecording {
    /// What was loaded: a capture file, a session or a recording directory.
    pub root: PathBuf,
    /// The machine-specific paths found in the recording (and named by the rules file).
    pub paths: Vec<KnownPath>,
    /// Every request, session by session, in order.
    pub requests: Vec<NormalizedRequest>,
    /// The agent's event streams ([`crate::events`]), when they were normalized with the requests.
    pub streams: Vec<NormalizedStream>,
}

/// One of the agent's event streams after normalization.
#[derive(Debug, Clone)]
pub struct NormalizedStream {
    /// `events/turn-1`, `frontend/turn-2`: what pairs it with the other side's.
    pub id: String,
    /// The file, relative to the scenario directory.
    pub file: String,
    /// `exec --json events`.
    pub label: String,
    /// The file as it was loaded, for links.
    pub path: PathBuf,
    pub doc: Node,
    pub touches: Vec<Touch>,
}

/// One request after normalization.
#[derive(Debug, Clone)]
pub struct NormalizedRequest {
    pub session: u32,
    pub seq: u32,
    /// The capture file, relative to the recording's root.
    pub file: String,
    /// `POST /v1/responses`.
    pub label: String,
    /// The scripted step that answered, as `step 2 "steer"`, when the capture says.
    pub step: Option<String>,
    /// The capture file as it was loaded, for links.
    pub path: std::path::PathBuf,
    pub doc: Node,
    /// What each rule changed, when [`NormalizeOptions::explain`] is set.
    pub touches: Vec<Touch>,
}

/// One change a rule made to a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Touch {
    pub rule: String,
    /// JSON pointer of the value, as in the captured request.
    pub path: String,
    /// The value before (an excerpt around the change for long strings).
    pub before: String,
    pub after: String,
}

/// The document view of a captured request, before normalization: method, path, query, headers as an object by
/// lowercase name (repeated headers hold a list), body, and the raw body when it was not JSON.
pub fn document(request: &CapturedRequest) -> Value {
    let mut doc = Map::new();
    doc.insert("method".into(), Value::String(request.method.clone()));
    doc.insert("path".into(), Value::String(request.path.clone()));
    if let Some(query) = &request.query {
        doc.insert("query".into(), Value::String(query.clone()));
    }
    doc.insert("headers".into(), Value::Object(headers(request)));
    doc.insert("body".into(), request.body.clone());
    if let Some(raw) = &request.raw_body {
        doc.insert("raw_body".into(), serde_json::to_value(raw).expect("a raw body serializes"));
    }
    Value::Object(doc)
}

fn headers(request: &CapturedRequest) -> Map<String, Value> {
    let mut headers = Map::new();
    for (name, value) in request.headers.iter() {
        let name = name.to_ascii_lowercase();
        let value = Value::String(value.to_string());
        match headers.get_mut(&name) {
            None => {
                headers.insert(name, value);
            }
            Some(Value::Array(list)) => list.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
        }
    }
    headers
}

/// The top-level keys of a request's document: rules whose selectors cannot start with one of them are left out of
/// a request's walk.
const REQUEST_ROOTS: [&str; 6] = ["method", "path", "query", "headers", "body", "raw_body"];

/// Normalizes every request of a recording with one placeholder numbering.
pub fn normalize(recording: &Recording, rules: &RuleSet, options: NormalizeOptions) -> NormalizedRecording {
    normalize_with(recording, None, rules, options)
}

/// Normalizes every request of a recording, then its event streams, with one placeholder numbering: an id gets the
/// same placeholder in both. The paths the client named in the events (an app-server `cwd`) are known paths too.
pub fn normalize_with(
    recording: &Recording,
    events: Option<&EventLog>,
    rules: &RuleSet,
    options: NormalizeOptions,
) -> NormalizedRecording {
    let mut extra = rules.paths.clone();
    if let Some(events) = events {
        extra.extend(events.cwds.iter().map(|cwd| ExtraPath { kind: "cwd".into(), path: cwd.clone() }));
    }
    let mut paths = derive(recording, &extra);
    // Only events name files outside the workspace (an app-server file change beside it); requests compared alone
    // keep the paths they always had.
    if events.is_some()
        && let Some(run) = run_dir(&paths)
    {
        paths.push(KnownPath { kind: "run".into(), path: run });
    }
    let finder = PathFinder::new(&paths);
    let compiled = Compiled::new(&rules.rules, &REQUEST_ROOTS);
    let mut placeholders = Placeholders::default();
    let requests = recording
        .exchanges()
        .map(|exchange| {
            let capture = &exchange.capture;
            let mut walker = Walker::new(&compiled, &mut placeholders, &finder, options.explain);
            let mut doc = walker.request(&capture.request);
            without_catalog_client(&capture.request, &mut doc);
            let mut file = recording.display_path(&exchange.path);
            if file.is_empty() {
                // A single capture file was loaded: name it.
                file = exchange.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            }
            NormalizedRequest {
                session: capture.session.index,
                seq: capture.seq,
                file,
                label: format!("{} {}", capture.request.method, capture.request.path),
                step: capture.script.as_ref().and_then(|s| {
                    let step = s.step?;
                    Some(match &s.name {
                        Some(name) => format!("step {step} \"{name}\""),
                        None => format!("step {step}"),
                    })
                }),
                path: exchange.path.clone(),
                doc,
                touches: walker.touches.unwrap_or_default(),
            }
        })
        .collect();
    let mut streams = Vec::new();
    if let Some(events) = events {
        let roots: Vec<&str> = events.streams.iter().flat_map(|s| s.root.iter().map(|(k, _)| k.as_str())).collect();
        let compiled = Compiled::new(&rules.rules, &roots);
        for stream in &events.streams {
            let mut walker = Walker::new(&compiled, &mut placeholders, &finder, options.explain);
            let doc = walker.document(stream.root.iter().map(|(k, v)| (k.as_str(), v)).collect());
            streams.push(NormalizedStream {
                id: stream.id.clone(),
                file: stream.file.clone(),
                label: stream.label.clone(),
                path: events.dir.join(&stream.file),
                doc,
                touches: walker.touches.unwrap_or_default(),
            });
        }
    }
    NormalizedRecording { root: recording.root.clone(), paths, requests, streams }
}

/// A model-catalog fetch (`GET .../models`) loses the client part of its user agent (`(codex_exec; 0.169.0)`, the
/// last parenthesized part): upstream signed in with ChatGPT sends its first two fetches at once, one before it names
/// its client, and which arrives first varies from run to run (openai-chatgpt-tokens). Other requests keep it.
fn without_catalog_client(request: &parity_capture::CapturedRequest, doc: &mut Node) {
    static CLIENT: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"^\S+ \([^()]*\) \S+ \([^()]*\)$").expect("a valid regex"));
    if request.method != "GET" || !request.path.ends_with("/models") {
        return;
    }
    let Node::Object(doc) = doc else { return };
    let Some((_, Node::Object(headers))) = doc.entries.iter_mut().find(|(k, _)| k == "headers") else { return };
    let Some((_, agent)) = headers.entries.iter_mut().find(|(k, _)| k == "user-agent") else { return };
    if !agent.as_text().is_some_and(|text| CLIENT.is_match(&text)) {
        return;
    }
    match agent {
        Node::String(text) => {
            let cut = text.rfind(" (").unwrap_or(text.len());
            text.truncate(cut);
        }
        // The client part is the last literal's last ` (` and what follows it (its version is a placeholder).
        Node::Text(segments) => {
            let last = segments.iter().rposition(|s| matches!(s, Segment::Literal(l) if l.contains(" (")));
            if let Some(at) = last {
                segments.truncate(at + 1);
                if let Some(Segment::Literal(literal)) = segments.last_mut() {
                    let cut = literal.rfind(" (").unwrap_or(literal.len());
                    literal.truncate(cut);
                }
            }
        }
        _ => {}
    }
}

/// Rules with their selectors flattened, so that the walk tracks one state set per selector.
struct Compiled<'r> {
    rules: &'r [Rule],
    patterns: Vec<&'r Selector>,
    /// For each rule, the indices of its selectors in `patterns`.
    owners: Vec<std::ops::Range<usize>>,
    /// Rules that act on a value as a whole before its children are seen: remove, value, json, unordered.
    structural: Vec<usize>,
    /// Rules that rewrite strings and scalars, in order.
    rewrites: Vec<usize>,
}

impl<'r> Compiled<'r> {
    /// The rules that can apply to documents with these top-level keys: a selector that cannot get past the root of
    /// such a document is left out (so that the event rules cost a request's walk nothing, and the reverse), and a
    /// rule none of whose selectors is left is too.
    fn new(rules: &'r [Rule], roots: &[&str]) -> Self {
        let mut patterns = Vec::new();
        let mut owners = Vec::new();
        let (mut structural, mut rewrites) = (Vec::new(), Vec::new());
        for (i, rule) in rules.iter().enumerate() {
            let start = patterns.len();
            let reaches = |p: &&Selector| roots.iter().any(|root| p.step(p.start(), Step::Key(root)) != 0);
            patterns.extend(rule.select.iter().filter(reaches));
            owners.push(start..patterns.len());
            if !rule.select.is_empty() && patterns.len() == start {
                continue;
            }
            match rule.action {
                Action::Remove | Action::Fixed(_) | Action::Json | Action::Unordered => structural.push(i),
                _ => rewrites.push(i),
            }
        }
        Compiled { rules, patterns, owners, structural, rewrites }
    }
}

/// Placeholder numbers, per kind, by first appearance.
#[derive(Default)]
struct Placeholders {
    kinds: HashMap<Arc<str>, HashMap<String, u32>>,
}

impl Placeholders {
    fn assign(&mut self, kind: &Arc<str>, value: &str) -> Placeholder {
        let values = self.kinds.entry(kind.clone()).or_default();
        let next = values.len() as u32 + 1;
        let n = match values.get(value) {
            Some(n) => *n,
            None => {
                values.insert(value.to_string(), next);
                next
            }
        };
        Placeholder { kind: kind.clone(), n }
    }
}

/// Where the walk's stack keeps the states of a value no selector can match in (or below): all zero.
const DEAD: usize = 0;

struct Walker<'a> {
    c: &'a Compiled<'a>,
    placeholders: &'a mut Placeholders,
    finder: &'a PathFinder,
    /// Selector states: the states of the value being visited start at some `base`, one per pattern.
    stack: Vec<States>,
    /// JSON pointer of the value being visited (for explanations).
    pointer: String,
    touches: Option<Vec<Touch>>,
}

impl<'a> Walker<'a> {
    /// A walk over one document, numbering placeholders on from where the recording's earlier documents left them.
    fn new(c: &'a Compiled<'a>, placeholders: &'a mut Placeholders, finder: &'a PathFinder, explain: bool) -> Self {
        let stack = Vec::with_capacity(c.patterns.len() * 16);
        Walker { c, placeholders, finder, stack, pointer: String::new(), touches: explain.then(Vec::new) }
    }

    fn request(&mut self, request: &CapturedRequest) -> Node {
        let headers = Value::Object(headers(request));
        let raw = request.raw_body.as_ref().map(|raw| serde_json::to_value(raw).expect("a raw body serializes"));
        let method = Value::String(request.method.clone());
        let path = Value::String(request.path.clone());
        let query = request.query.clone().map(Value::String);
        let parts = [
            ("method", Some(&method)),
            ("path", Some(&path)),
            ("query", query.as_ref()),
            ("headers", Some(&headers)),
            ("body", Some(&request.body)),
            ("raw_body", raw.as_ref()),
        ];
        let entries = parts.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect();
        self.document(entries)
    }

    /// Normalizes a document given as its top-level entries.
    fn document(&mut self, entries: Vec<(&str, &Value)>) -> Node {
        let c = self.c;
        self.stack.clear();
        self.stack.resize(c.patterns.len(), 0);
        let root = self.stack.len();
        self.stack.extend(c.patterns.iter().map(|p| p.start()));
        Node::Object(self.entries(entries, root, false))
    }

    fn matched(&self, rule: usize, base: usize) -> bool {
        let owners = &self.c.owners[rule];
        owners.is_empty() || owners.clone().any(|p| self.c.patterns[p].accepts(self.stack[base + p]))
    }

    /// Pushes the states one level below `base`, returning where they start. Where no selector can match any more
    /// (most of a request), nothing is pushed: the states are the all-zero block at the bottom of the stack.
    fn descend(&mut self, base: usize, step: Step<'_>) -> usize {
        if base == DEAD {
            return DEAD;
        }
        let c = self.c;
        let child = self.stack.len();
        let mut alive = 0;
        for (p, pattern) in c.patterns.iter().enumerate() {
            let s = self.stack[base + p];
            let next = if s == 0 { 0 } else { pattern.step(s, step) };
            alive |= next;
            self.stack.push(next);
        }
        if alive == 0 {
            self.stack.truncate(child);
            return DEAD;
        }
        child
    }

    fn touch(&mut self, rule: usize, before: &str, after: &str) {
        if let Some(touches) = &mut self.touches {
            let (before, after) = excerpt(before, after);
            touches.push(Touch { rule: self.c.rules[rule].name.clone(), path: self.pointer.clone(), before, after });
        }
    }

    /// Normalizes one value; `None` when a rule removes it.
    fn value(&mut self, value: &Value, base: usize) -> Option<Node> {
        let c = self.c;
        let (mut json, mut unordered) = (None, None);
        for &i in &c.structural {
            if !self.matched(i, base) {
                continue;
            }
            match &c.rules[i].action {
                Action::Remove => {
                    if self.touches.is_some() {
                        self.touch(i, &short_json(value), "(removed)");
                    }
                    return None;
                }
                Action::Fixed(fixed) => {
                    if self.touches.is_some() {
                        self.touch(i, &short_json(value), &short_json(fixed));
                    }
                    return Some(Node::from_value(fixed.clone()));
                }
                Action::Json => json = json.or(Some(i)),
                Action::Unordered => unordered = unordered.or(Some(i)),
                _ => {}
            }
        }
        match value {
            Value::String(s) => {
                if let Some(rule) = json
                    && s.trim_start().starts_with(['{', '['])
                    && let Ok(parsed) = serde_json::from_str::<Value>(s)
                {
                    self.touch(rule, s, "(decoded as JSON)");
                    return self.value(&parsed, base).map(|n| Node::Embedded(Box::new(n)));
                }
                Some(self.string(s, base, false))
            }
            Value::Object(map) => {
                let mut entries: Vec<(&str, &Value)> = map.iter().map(|(k, v)| (k.as_str(), v)).collect();
                if let Some(rule) = unordered {
                    let sorted = entries.is_sorted_by(|a, b| a.0 <= b.0);
                    entries.sort_by(|a, b| a.0.cmp(b.0));
                    if !sorted {
                        self.touch(rule, "(keys in the order sent)", "(keys sorted)");
                    }
                }
                Some(Node::Object(self.entries(entries, base, unordered.is_some())))
            }
            Value::Array(items) => {
                let mut items: Vec<&Value> = items.iter().collect();
                if let Some(rule) = unordered {
                    let mut keyed: Vec<(String, &Value)> = items.iter().map(|v| (v.to_string(), *v)).collect();
                    keyed.sort_by(|a, b| a.0.cmp(&b.0));
                    items = keyed.into_iter().map(|(_, v)| v).collect();
                    self.touch(rule, "(elements in the order sent)", "(elements sorted)");
                }
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    let mark = self.stack.len();
                    let child = self.descend(base, Step::Index(i));
                    let len = self.pointer.len();
                    if self.touches.is_some() {
                        self.pointer.push_str(&format!("/{i}"));
                    }
                    if let Some(node) = self.value(item, child) {
                        out.push(node);
                    }
                    self.pointer.truncate(len);
                    self.stack.truncate(mark);
                }
                Some(Node::Array(out))
            }
            Value::Number(n) => Some(self.scalar(value, base).unwrap_or(Node::Number(n.clone()))),
            Value::Bool(b) => Some(self.scalar(value, base).unwrap_or(Node::Bool(*b))),
            Value::Null => Some(Node::Null),
        }
    }

    fn entries(&mut self, entries: Vec<(&str, &Value)>, base: usize, unordered: bool) -> Object {
        let mut out = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let mark = self.stack.len();
            let child = self.descend(base, Step::Key(key));
            let len = self.pointer.len();
            if self.touches.is_some() {
                self.pointer.push('/');
                self.pointer.push_str(&escape_token(key));
            }
            if let Some(node) = self.value(value, child) {
                let key = match self.string(key, child, true) {
                    Node::String(s) => s,
                    other => other.as_text().expect("a string stays a string"),
                };
                out.push((key, node));
            }
            self.pointer.truncate(len);
            self.stack.truncate(mark);
        }
        Object { entries: out, unordered }
    }

    /// A number or boolean under a placeholder rule becomes a placeholder that remembers its type.
    fn scalar(&mut self, value: &Value, base: usize) -> Option<Node> {
        let c = self.c;
        let rule = c.rewrites.iter().copied().find(|&i| {
            matches!(c.rules[i].action, Action::Placeholder(_) | Action::Mask(_)) && self.matched(i, base)
        })?;
        let text = value.to_string();
        let placeholder = match &c.rules[rule].action {
            Action::Placeholder(kind) => self.placeholders.assign(kind, &text),
            Action::Mask(kind) => Placeholder { kind: kind.clone(), n: 0 },
            _ => unreachable!("only placeholder rules were looked for"),
        };
        self.touch(rule, &text, &placeholder.to_string());
        let ty = if value.is_boolean() { ScalarType::Bool } else { ScalarType::Number };
        Some(Node::Masked(placeholder, ty))
    }

    /// Applies the rewrite rules to a string: a value, or an object key (which only the rules that rewrite parts of
    /// strings change: regexes, UUIDs, paths).
    fn string(&mut self, s: &str, base: usize, is_key: bool) -> Node {
        let c = self.c;
        // `None` while the string is unchanged, which it mostly is.
        let mut segments: Option<Vec<Segment>> = None;
        for &i in &c.rewrites {
            if !self.matched(i, base) {
                continue;
            }
            let before = self.touches.is_some().then(|| current_text(s, segments.as_deref()));
            let changed = match &c.rules[i].action {
                Action::Placeholder(kind) => {
                    if segments.is_none() && !is_key {
                        let p = self.placeholders.assign(kind, s);
                        segments = Some(vec![Segment::Placeholder(p)]);
                        true
                    } else {
                        false
                    }
                }
                Action::Mask(kind) => {
                    if segments.is_none() && !is_key {
                        segments = Some(vec![Segment::Placeholder(Placeholder { kind: kind.clone(), n: 0 })]);
                        true
                    } else {
                        false
                    }
                }
                Action::Regex { regex, replace, literal } => {
                    let placeholders = &mut *self.placeholders;
                    split_literals(s, &mut segments, |text| {
                        if literal.is_some_and(|l| !text.contains(l)) {
                            return None;
                        }
                        regex_split(text, regex, replace, placeholders)
                    })
                }
                Action::Uuid { versions } => {
                    let placeholders = &mut *self.placeholders;
                    split_literals(s, &mut segments, |text| uuid_split(text, versions, placeholders))
                }
                Action::Paths => {
                    let placeholders = &mut *self.placeholders;
                    let finder = self.finder;
                    split_literals(s, &mut segments, |text| {
                        finder.split(text, &mut |kind, path| Segment::Placeholder(placeholders.assign(kind, path)))
                    })
                }
                Action::Json | Action::Remove | Action::Unordered | Action::Fixed(_) => false,
            };
            if changed && let Some(before) = before {
                let after = current_text(s, segments.as_deref());
                self.touch(i, &before, &after);
            }
        }
        match segments {
            None => Node::String(s.to_string()),
            Some(segments) => text_node(segments),
        }
    }
}

fn current_text(original: &str, segments: Option<&[Segment]>) -> String {
    match segments {
        None => original.to_string(),
        Some(segments) => crate::node::render_segments(segments, &|p| p.clone()),
    }
}

/// Runs `split` on every literal part of a string; returns whether anything changed.
fn split_literals(
    original: &str,
    segments: &mut Option<Vec<Segment>>,
    mut split: impl FnMut(&str) -> Option<Vec<Segment>>,
) -> bool {
    match segments {
        None => match split(original) {
            Some(new) => {
                *segments = Some(new);
                true
            }
            None => false,
        },
        Some(current) => {
            let mut changed = false;
            let mut out = Vec::with_capacity(current.len());
            for segment in current.drain(..) {
                match segment {
                    Segment::Literal(text) => match split(&text) {
                        Some(parts) => {
                            changed = true;
                            out.extend(parts);
                        }
                        None => out.push(Segment::Literal(text)),
                    },
                    placeholder => out.push(placeholder),
                }
            }
            *current = out;
            changed
        }
    }
}

fn regex_split(
    text: &str,
    regex: &regex::Regex,
    replace: &Replace,
    placeholders: &mut Placeholders,
) -> Option<Vec<Segment>> {
    match replace {
        Replace::Template(template) => match regex.replace_all(text, template.as_str()) {
            std::borrow::Cow::Borrowed(_) => None,
            std::borrow::Cow::Owned(new) => Some(vec![Segment::Literal(new)]),
        },
        Replace::Placeholder(kind) => {
            let mut out = Vec::new();
            let mut last = 0;
            for captures in regex.captures_iter(text) {
                let m = captures.get(1).or_else(|| captures.get(0)).expect("a match has group 0");
                if m.start() < last || m.is_empty() {
                    continue;
                }
                out.push(Segment::Literal(text[last..m.start()].to_string()));
                out.push(Segment::Placeholder(placeholders.assign(kind, m.as_str())));
                last = m.end();
            }
            if out.is_empty() {
                return None;
            }
            out.push(Segment::Literal(text[last..].to_string()));
            Some(out)
        }
    }
}

/// The kinds `uuid0` to `uuidf`, shared.
static UUID_KINDS: std::sync::LazyLock<Vec<Arc<str>>> =
    std::sync::LazyLock::new(|| (0..16).map(|v| Arc::from(format!("uuid{v:x}"))).collect());

/// Finds UUIDs (`8-4-4-4-12` hex digits, not inside a longer run of hex digits) of the given versions.
fn uuid_split(text: &str, versions: &[u8], placeholders: &mut Placeholders) -> Option<Vec<Segment>> {
    let bytes = text.as_bytes();
    if bytes.len() < 36 {
        return None;
    }
    let mut out = Vec::new();
    let mut last = 0;
    let mut from = 0;
    // Every UUID has a dash at offset 8: look at dashes only.
    while let Some(offset) = text[from..].find('-') {
        let dash = from + offset;
        from = dash + 1;
        let Some(start) = dash.checked_sub(8) else {
            continue;
        };
        if start < last || start + 36 > bytes.len() || !is_uuid(&bytes[start..start + 36]) {
            continue;
        }
        let before_ok = start == 0 || !bytes[start - 1].is_ascii_hexdigit();
        let after_ok = bytes.get(start + 36).is_none_or(|b| !b.is_ascii_hexdigit());
        let version = (bytes[start + 14] as char).to_digit(16).expect("a hex digit") as u8;
        if !(before_ok && after_ok && versions.contains(&version)) {
            continue;
        }
        out.push(Segment::Literal(text[last..start].to_string()));
        let kind = &UUID_KINDS[version as usize];
        out.push(Segment::Placeholder(placeholders.assign(kind, &text[start..start + 36])));
        last = start + 36;
        from = last;
    }
    if out.is_empty() {
        return None;
    }
    out.push(Segment::Literal(text[last..].to_string()));
    Some(out)
}

fn is_uuid(b: &[u8]) -> bool {
    b.iter().enumerate().all(|(i, c)| match i {
        8 | 13 | 18 | 23 => *c == b'-',
        _ => c.is_ascii_hexdigit(),
    })
}

fn short_json(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    excerpt(&text, &text).0
}

/// Before and after, cut to the neighbourhood of their first difference when they are long.
fn excerpt(before: &str, after: &str) -> (String, String) {
    const LIMIT: usize = 100;
    if before.chars().count() <= LIMIT && after.chars().count() <= LIMIT {
        return (before.to_string(), after.to_string());
    }
    let common = before
        .char_indices()
        .zip(after.chars())
        .find(|((_, a), b)| a != b)
        .map_or(before.len().min(after.len()), |((i, _), _)| i);
    let cut = |s: &str| {
        let start = floor_char(s, common.saturating_sub(30));
        let end = floor_char(s, (start + LIMIT).min(s.len()));
        let mut out = String::new();
        if start > 0 {
            out.push('…');
        }
        out.push_str(&s[start..end]);
        if end < s.len() {
            out.push('…');
        }
        out
    };
    (cut(before), cut(after))
}

fn floor_char(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests;
