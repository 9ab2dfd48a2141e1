//! Comparison: two normalized recordings in, divergences out.
//!
//! Requests pair up by session and position; sessions that run at once (sub-agents spawned together) reach the
//! server in either order, so a session whose first request a named script step answered pairs with the session
//! whose first request the same step answered ([`session_pairing`]). Within a pair the documents are walked side by
//! side:
//!
//! - objects by key, reporting keys on one side only and, for maps whose order means something, a different order;
//! - arrays by content: a sequence diff of the elements aligns what is equal, elements that moved are reported as
//!   moved, changed ones are compared further (paired by type and role), the rest are on one side only. Tool lists
//!   (`tools`) pair by tool name instead;
//! - placeholders by relation: each left placeholder pairs with the right one found at the same place the first time,
//!   for the whole recording. Where the left repeats an id and the right does not (or the other way round) a relation
//!   is broken, such as `x-client-request-id` no longer being the thread id. Numbering by first appearance makes
//!   equal structure give equal placeholders; pairing makes a shifted numbering harmless.
//!
//! Each divergence gets a category from its kind and where it is (see [`Category`]). Right-hand placeholders are
//! renamed to their left partners in what is reported, so that equal names mean "the same id".

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;
use similar::{Algorithm, DiffOp, capture_diff_slices};

use crate::accept::AcceptEntry;
use crate::node::{Node, Object, Placeholder, Segment, segments_of};
use crate::normalize::{NormalizedRecording, NormalizedRequest, NormalizedStream, Touch};
use crate::paths::KnownPath;
use crate::selector::escape_token;
use crate::textdiff::{TextDiff, wants_diff};

/// What kind of divergence, for triage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// The shape of the request: a key, header, tool or input item on one side only, a type change, an item of
    /// another type or role or in another position, a different key order, a header or a tool's parameter schema
    /// with another value, another method or path.
    Schema,
    /// An id relation that holds on one side and not on the other (two values that are the same id on one side are
    /// different ids on the other).
    Relation,
    /// Another value for a setting or id that is not text for the model (`model`, `reasoning.effort`, `store`, a
    /// call id, an id of another kind).
    Value,
    /// Other text for the model: instructions, message text of any role, tool outputs and reasoning summaries echoed
    /// back, custom tool call input, tool and parameter descriptions.
    Prompt,
    /// What the agent told its client rather than the model: its `exec --json` events, its app-server messages
    /// ([`crate::events`]). Every divergence of an event stream is of this category, whatever its kind.
    Events,
    /// A JSON-RPC message between the frontend and an app server that breaks the protocol's schema recorded from
    /// upstream ([`crate::protocol`]), on either side.
    Protocol,
    /// A file the scenario keeps from the agent's home after the run (`[home] keep`: the system skills it
    /// installs) on one side only, or with other contents ([`crate::kept`]).
    Files,
}

impl Category {
    pub const ALL: [Category; 7] = [
        Category::Schema,
        Category::Relation,
        Category::Value,
        Category::Prompt,
        Category::Events,
        Category::Protocol,
        Category::Files,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Schema => "schema",
            Category::Relation => "relation",
            Category::Value => "value",
            Category::Prompt => "prompt",
            Category::Events => "events",
            Category::Protocol => "protocol",
            Category::Files => "files",
        }
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Present on the left only (a key, an element, a tool, a whole request).
    OnlyLeft,
    /// Present on the right only.
    OnlyRight,
    /// Another JSON type.
    TypeChanged,
    /// Another value.
    Changed,
    /// The same element at another position.
    Moved,
    /// The same keys in another order, where order counts.
    KeyOrder,
    /// A placeholder relation that holds on one side only.
    RelationBroken,
}

impl Kind {
    /// A few words for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::OnlyLeft => "only on the left",
            Kind::OnlyRight => "only on the right",
            Kind::TypeChanged => "type differs",
            Kind::Changed => "differs",
            Kind::Moved => "in another position",
            Kind::KeyOrder => "keys in another order",
            Kind::RelationBroken => "relation broken",
        }
    }
}

/// One difference between a left and a right request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Divergence {
    pub category: Category,
    pub kind: Kind,
    /// JSON pointer into the normalized document: the left's, or the right's when the value is on the right only.
    pub path: String,
    /// The right's pointer, when it is not `path` (an element that moved or sits at another index).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub right_path: Option<String>,
    /// The left value (`null` when absent: see `kind`).
    pub left: Option<Value>,
    pub right: Option<Value>,
    /// More words, for relations and moves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// A line diff with the changed words marked, for long or multi-line strings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_diff: Option<TextDiff>,
}

/// A request as the report names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestInfo {
    /// The capture file, relative to its recording's root.
    pub file: String,
    /// `POST /v1/responses`.
    pub label: String,
    /// The scripted step that answered, as `step 2 "steer"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The capture file as it was loaded (relative to the working directory, or absolute), for links.
    #[serde(skip)]
    pub path: std::path::PathBuf,
}

/// A divergence covered by an accept entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Accepted {
    #[serde(flatten)]
    pub divergence: Divergence,
    pub reason: String,
}

/// The left and right requests at one position, and how they differ.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestPair {
    /// `session-01/0002`: the session and position both sides share.
    pub id: String,
    pub session: u32,
    pub seq: u32,
    pub left: Option<RequestInfo>,
    pub right: Option<RequestInfo>,
    pub divergences: Vec<Divergence>,
    /// Divergences an accept file covers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accepted: Vec<Accepted>,
    /// RFC 6902 operations turning the left normalized document into the right one, when they differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<json_patch::Patch>,
    /// What the rules changed on each side (`--explain`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub explain_left: Vec<Touch>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub explain_right: Vec<Touch>,
    /// Whether the pair is one of the agent's event streams (`events/turn-1`) rather than a request.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub events: bool,
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SideInfo {
    pub root: String,
    pub requests: usize,
    /// The machine-specific paths found, replaced by placeholders.
    pub paths: Vec<KnownPath>,
}

/// Counts for reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Request pairs.
    pub pairs: usize,
    /// Event stream pairs.
    pub streams: usize,
    /// Pairs of either kind that diverge.
    pub divergent_pairs: usize,
    pub divergences: usize,
    pub schema: usize,
    pub relation: usize,
    pub value: usize,
    pub prompt: usize,
    pub events: usize,
    pub protocol: usize,
    pub files: usize,
    pub accepted: usize,
    pub stale: usize,
}

impl Summary {
    /// Adds another comparison's counts (`parity check` totals its scenarios).
    pub fn add(&mut self, other: &Summary) {
        self.pairs += other.pairs;
        self.streams += other.streams;
        self.divergent_pairs += other.divergent_pairs;
        self.divergences += other.divergences;
        self.schema += other.schema;
        self.relation += other.relation;
        self.value += other.value;
        self.prompt += other.prompt;
        self.events += other.events;
        self.protocol += other.protocol;
        self.files += other.files;
        self.accepted += other.accepted;
        self.stale += other.stale;
    }

    pub fn count(&self, category: Category) -> usize {
        match category {
            Category::Schema => self.schema,
            Category::Relation => self.relation,
            Category::Value => self.value,
            Category::Prompt => self.prompt,
            Category::Events => self.events,
            Category::Protocol => self.protocol,
            Category::Files => self.files,
        }
    }
}

/// The result of comparing two recordings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub left: SideInfo,
    pub right: SideInfo,
    pub pairs: Vec<RequestPair>,
    /// Accept entries that matched no divergence.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale: Vec<AcceptEntry>,
}

impl Comparison {
    pub fn summary(&self) -> Summary {
        let streams = self.pairs.iter().filter(|p| p.events).count();
        let mut s =
            Summary { pairs: self.pairs.len() - streams, streams, stale: self.stale.len(), ..Summary::default() };
        for pair in &self.pairs {
            if !pair.divergences.is_empty() {
                s.divergent_pairs += 1;
            }
            s.accepted += pair.accepted.len();
            for d in &pair.divergences {
                s.divergences += 1;
                match d.category {
                    Category::Schema => s.schema += 1,
                    Category::Relation => s.relation += 1,
                    Category::Value => s.value += 1,
                    Category::Prompt => s.prompt += 1,
                    Category::Events => s.events += 1,
                    Category::Protocol => s.protocol += 1,
                    Category::Files => s.files += 1,
                }
            }
        }
        s
    }

    /// Whether nothing diverges, once accepted divergences are set apart.
    pub fn is_clean(&self) -> bool {
        self.pairs.iter().all(|p| p.divergences.is_empty())
    }

    /// Every divergence not accepted, with the id of its request pair.
    pub fn divergences(&self) -> impl Iterator<Item = (&RequestPair, &Divergence)> {
        self.pairs.iter().flat_map(|p| p.divergences.iter().map(move |d| (p, d)))
    }
}

/// `session-01/0002`.
pub fn pair_id(session: u32, seq: u32) -> String {
    format!("{}/{seq:04}", parity_capture::store::session_dir_name(session))
}

/// Which left session each right session pairs with, where that is not its own number: the sessions whose first
/// requests named script steps answered (`step 3 "child-a-command"`), each with the left session whose first request
/// the same step answered. Only a reordering of those sessions among themselves counts; anything else pairs by
/// number.
fn session_pairing(left: &[NormalizedRequest], right: &[NormalizedRequest]) -> HashMap<u32, u32> {
    let (left_steps, right_steps) = (first_named_steps(left), first_named_steps(right));
    let mut by_step: HashMap<&str, Option<u32>> = HashMap::new();
    for (session, step) in &left_steps {
        // A step that began two sessions names neither.
        by_step.entry(step).and_modify(|s| *s = None).or_insert(Some(*session));
    }
    let pairs: HashMap<u32, u32> = right_steps
        .iter()
        .filter_map(|(session, step)| Some((*session, (*by_step.get(step)?)?)))
        .filter(|(right, left)| right != left)
        .collect();
    let mut moved: Vec<u32> = pairs.keys().copied().collect();
    let mut targets: Vec<u32> = pairs.values().copied().collect();
    moved.sort_unstable();
    targets.sort_unstable();
    targets.dedup();
    if moved == targets { pairs } else { HashMap::new() }
}

/// The step that answered each session's first request, for the sessions a named step began.
fn first_named_steps(requests: &[NormalizedRequest]) -> BTreeMap<u32, &str> {
    let mut first: BTreeMap<u32, &NormalizedRequest> = BTreeMap::new();
    for r in requests {
        let entry = first.entry(r.session).or_insert(r);
        if r.seq < entry.seq {
            *entry = r;
        }
    }
    let named = first.into_iter().filter_map(|(session, r)| Some((session, r.step.as_deref()?)));
    named.filter(|(_, step)| step.contains('"')).collect()
}

/// The left and right requests at one position, either possibly absent.
type Sides<'a> = (Option<&'a NormalizedRequest>, Option<&'a NormalizedRequest>);

/// Compares two normalized recordings, request by request.
pub fn compare(left: &NormalizedRecording, right: &NormalizedRecording) -> Comparison {
    let mut keyed: BTreeMap<(u32, u32), Sides<'_>> = BTreeMap::new();
    for r in &left.requests {
        keyed.entry((r.session, r.seq)).or_default().0 = Some(r);
    }
    let sessions = session_pairing(&left.requests, &right.requests);
    for r in &right.requests {
        let session = sessions.get(&r.session).copied().unwrap_or(r.session);
        keyed.entry((session, r.seq)).or_default().1 = Some(r);
    }
    let mut pairing = Pairing::default();
    let mut raw_pairs = Vec::with_capacity(keyed.len());
    for ((session, seq), (l, r)) in keyed {
        let id = pair_id(session, seq);
        let raw = match (l, r) {
            (Some(l), Some(r)) => {
                let mut differ = Differ {
                    pairing: &mut pairing,
                    request: &id,
                    events: false,
                    lpath: Vec::new(),
                    rpath: Vec::new(),
                    out: Vec::new(),
                };
                differ.node(&l.doc, &r.doc);
                differ.out
            }
            (Some(l), None) => vec![missing_request(Kind::OnlyLeft, l)],
            (None, Some(r)) => vec![missing_request(Kind::OnlyRight, r)],
            (None, None) => unreachable!(),
        };
        raw_pairs.push((id, session, seq, l, r, raw));
    }
    // The event streams, after the requests so that ids met in both pair as the requests paired them. By id, in
    // the left's order, then the right's own.
    let mut ids: Vec<&str> = left.streams.iter().map(|s| s.id.as_str()).collect();
    ids.extend(right.streams.iter().map(|s| s.id.as_str()).filter(|id| !left.streams.iter().any(|s| s.id == *id)));
    let mut raw_streams = Vec::with_capacity(ids.len());
    for (index, id) in ids.into_iter().enumerate() {
        let l = left.streams.iter().find(|s| s.id == id);
        let r = right.streams.iter().find(|s| s.id == id);
        let raw = match (l, r) {
            (Some(l), Some(r)) => {
                let mut differ = Differ {
                    pairing: &mut pairing,
                    request: id,
                    events: true,
                    lpath: Vec::new(),
                    rpath: Vec::new(),
                    out: Vec::new(),
                };
                differ.node(&l.doc, &r.doc);
                differ.out
            }
            (Some(l), None) => vec![missing_stream(Kind::OnlyLeft, l)],
            (None, Some(r)) => vec![missing_stream(Kind::OnlyRight, r)],
            (None, None) => unreachable!(),
        };
        raw_streams.push((index, l, r, raw));
    }
    let divergent_right = raw_pairs
        .iter()
        .filter(|p| !p.5.is_empty())
        .filter_map(|p| p.4.map(|r| &r.doc))
        .chain(raw_streams.iter().filter(|p| !p.3.is_empty()).filter_map(|p| p.2.map(|r| &r.doc)));
    let renamer = Renamer::new(&pairing, left, divergent_right);
    let info = |r: &NormalizedRequest| RequestInfo {
        file: r.file.clone(),
        label: r.label.clone(),
        step: r.step.clone(),
        path: r.path.clone(),
    };
    let pairs = raw_pairs
        .into_iter()
        .map(|(id, session, seq, l, r, raw)| {
            let patch = match (l, r) {
                (Some(l), Some(r)) if !raw.is_empty() => {
                    Some(json_patch::diff(&l.doc.to_value(), &r.doc.to_value_with(&|p| renamer.rename(p))))
                }
                _ => None,
            };
            RequestPair {
                id,
                session,
                seq,
                left: l.map(info),
                right: r.map(info),
                divergences: raw.into_iter().map(|d| d.finish(&renamer)).collect(),
                accepted: Vec::new(),
                patch,
                explain_left: l.map(|l| l.touches.clone()).unwrap_or_default(),
                explain_right: r.map(|r| r.touches.clone()).unwrap_or_default(),
                events: false,
            }
        })
        .collect::<Vec<_>>();
    let stream_info = |s: &NormalizedStream| RequestInfo {
        file: s.file.clone(),
        label: s.label.clone(),
        step: None,
        path: s.path.clone(),
    };
    let mut pairs = pairs;
    pairs.extend(raw_streams.into_iter().map(|(index, l, r, raw)| {
        let patch = match (l, r) {
            (Some(l), Some(r)) if !raw.is_empty() => {
                Some(json_patch::diff(&l.doc.to_value(), &r.doc.to_value_with(&|p| renamer.rename(p))))
            }
            _ => None,
        };
        RequestPair {
            id: l.or(r).map(|s| s.id.clone()).unwrap_or_default(),
            session: 0,
            seq: index as u32 + 1,
            left: l.map(stream_info),
            right: r.map(stream_info),
            divergences: raw.into_iter().map(|d| d.finish(&renamer)).collect(),
            accepted: Vec::new(),
            patch,
            explain_left: l.map(|l| l.touches.clone()).unwrap_or_default(),
            explain_right: r.map(|r| r.touches.clone()).unwrap_or_default(),
            events: true,
        }
    }));
    let side = |rec: &NormalizedRecording| SideInfo {
        root: rec.root.display().to_string(),
        requests: rec.requests.len(),
        paths: rec.paths.clone(),
    };
    Comparison { left: side(left), right: side(right), pairs, stale: Vec::new() }
}

fn missing_stream(kind: Kind, stream: &NormalizedStream) -> Raw {
    let value = Node::String(format!("{} ({})", stream.label, stream.file));
    let (left, right) = match kind {
        Kind::OnlyLeft => (Some(value), None),
        _ => (None, Some(value)),
    };
    Raw {
        kind,
        category: Category::Events,
        path: String::new(),
        right_path: None,
        left,
        right,
        note: Some("the event stream has no counterpart on the other side".into()),
    }
}

fn missing_request(kind: Kind, request: &NormalizedRequest) -> Raw {
    let value = Node::String(format!("{} ({})", request.label, request.file));
    let (left, right) = match kind {
        Kind::OnlyLeft => (Some(value), None),
        _ => (None, Some(value)),
    };
    Raw {
        kind,
        category: Category::Schema,
        path: String::new(),
        right_path: None,
        left,
        right,
        note: Some("the request has no counterpart on the other side".into()),
    }
}

/// Where a placeholder pair was first seen: the request pair and the left's pointer.
#[derive(Debug, Clone)]
struct Origin {
    request: String,
    path: String,
}

/// The placeholder pairs found so far, both ways.
#[derive(Default)]
struct Pairing {
    left_to_right: HashMap<Placeholder, (Placeholder, Origin)>,
    right_to_left: HashMap<Placeholder, (Placeholder, Origin)>,
}

/// Renames right placeholders for reports: to their left partner, or past the left's numbers when they have none.
struct Renamer {
    right_to_left: HashMap<Placeholder, Placeholder>,
    fresh: HashMap<Placeholder, Placeholder>,
}

impl Renamer {
    /// `right_docs`: the right documents that will be reported on; their placeholders without a left partner are
    /// numbered after the left's highest of their kind, in order of appearance.
    fn new<'a>(
        pairing: &Pairing,
        left: &NormalizedRecording,
        right_docs: impl IntoIterator<Item = &'a Node>,
    ) -> Renamer {
        let right_to_left: HashMap<Placeholder, Placeholder> =
            pairing.right_to_left.iter().map(|(r, (l, _))| (r.clone(), l.clone())).collect();
        let mut fresh = HashMap::new();
        let mut right_docs = right_docs.into_iter().peekable();
        if right_docs.peek().is_some() {
            let mut highest: HashMap<std::sync::Arc<str>, u32> = HashMap::new();
            let docs = left.requests.iter().map(|r| &r.doc).chain(left.streams.iter().map(|s| &s.doc));
            for doc in docs {
                visit_placeholders(doc, &mut |p| {
                    let h = highest.entry(p.kind.clone()).or_default();
                    *h = (*h).max(p.n);
                });
            }
            for doc in right_docs {
                visit_placeholders(doc, &mut |p| {
                    // A masked value (number 0) is one placeholder for every value of its kind: no number to give.
                    if p.n != 0 && !right_to_left.contains_key(p) && !fresh.contains_key(p) {
                        let h = highest.entry(p.kind.clone()).or_default();
                        *h += 1;
                        let renamed = Placeholder { kind: p.kind.clone(), n: *h };
                        fresh.insert(p.clone(), renamed);
                    }
                });
            }
        }
        Renamer { right_to_left, fresh }
    }

    fn rename(&self, p: &Placeholder) -> Placeholder {
        self.right_to_left.get(p).or_else(|| self.fresh.get(p)).cloned().unwrap_or_else(|| p.clone())
    }
}

fn visit_placeholders(node: &Node, f: &mut dyn FnMut(&Placeholder)) {
    match node {
        Node::Text(segments) => segments.iter().for_each(|s| {
            if let Segment::Placeholder(p) = s {
                f(p)
            }
        }),
        Node::Masked(p, _) => f(p),
        Node::Array(items) => items.iter().for_each(|i| visit_placeholders(i, f)),
        Node::Object(o) => o.entries.iter().for_each(|(_, v)| visit_placeholders(v, f)),
        Node::Embedded(inner) => visit_placeholders(inner, f),
        Node::Null | Node::Bool(_) | Node::Number(_) | Node::String(_) => {}
    }
}

/// A divergence before right placeholders are renamed.
struct Raw {
    kind: Kind,
    category: Category,
    path: String,
    right_path: Option<String>,
    left: Option<Node>,
    right: Option<Node>,
    note: Option<String>,
}

impl Raw {
    fn finish(self, renamer: &Renamer) -> Divergence {
        let left = self.left.as_ref().map(Node::to_value);
        let right = self.right.as_ref().map(|n| n.to_value_with(&|p| renamer.rename(p)));
        let text_diff = match (&left, &right, self.kind) {
            (Some(Value::String(l)), Some(Value::String(r)), Kind::Changed) if wants_diff(l, r) => {
                Some(TextDiff::new(l, r))
            }
            _ => None,
        };
        Divergence {
            category: self.category,
            kind: self.kind,
            path: self.path,
            right_path: self.right_path,
            left,
            right,
            note: self.note,
            text_diff,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn pointer(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        out.push('/');
        match seg {
            Seg::Key(k) => out.push_str(&escape_token(k)),
            Seg::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

struct Differ<'a> {
    pairing: &'a mut Pairing,
    request: &'a str,
    /// Comparing an event stream: every divergence is of the category `events`.
    events: bool,
    lpath: Vec<Seg>,
    rpath: Vec<Seg>,
    out: Vec<Raw>,
}

impl Differ<'_> {
    fn report(&mut self, kind: Kind, left: Option<&Node>, right: Option<&Node>, note: Option<String>) {
        let on_right = kind == Kind::OnlyRight;
        let (main, other) = if on_right { (&self.rpath, &self.lpath) } else { (&self.lpath, &self.rpath) };
        let path = pointer(main);
        let right_path = (!on_right && self.rpath != self.lpath).then(|| pointer(other));
        let category = match self.events {
            true => Category::Events,
            false => classify(kind, if on_right { &self.rpath } else { &self.lpath }),
        };
        self.out.push(Raw { kind, category, path, right_path, left: left.cloned(), right: right.cloned(), note });
    }

    fn within(&mut self, l: Seg, r: Seg, f: impl FnOnce(&mut Self)) {
        self.lpath.push(l);
        self.rpath.push(r);
        f(self);
        self.lpath.pop();
        self.rpath.pop();
    }

    fn node(&mut self, l: &Node, r: &Node) {
        match (l, r) {
            (Node::Object(a), Node::Object(b)) => self.object(a, b),
            (Node::Array(a), Node::Array(b)) => self.array(a, b),
            (Node::Embedded(a), Node::Embedded(b)) => self.node(a, b),
            (Node::String(a), Node::String(b)) => {
                if a != b {
                    self.report(Kind::Changed, Some(l), Some(r), None);
                }
            }
            (Node::String(_) | Node::Text(_), Node::String(_) | Node::Text(_)) => self.text(l, r),
            (Node::Masked(p, t), Node::Masked(q, u)) if t == u => {
                if let Some(problem) = self.placeholder(p, q) {
                    self.report_pairing(problem, l, r);
                }
            }
            (Node::Null, Node::Null) => {}
            (Node::Bool(a), Node::Bool(b)) if a == b => {}
            (Node::Number(a), Node::Number(b)) if a == b => {}
            (Node::Bool(_), Node::Bool(_)) | (Node::Number(_), Node::Number(_)) => {
                self.report(Kind::Changed, Some(l), Some(r), None)
            }
            _ => {
                let note = format!("{} on the left, {} on the right", l.type_name(), r.type_name());
                self.report(Kind::TypeChanged, Some(l), Some(r), Some(note));
            }
        }
    }

    fn object(&mut self, a: &Object, b: &Object) {
        let index: HashMap<&str, usize> = b.entries.iter().enumerate().map(|(i, (k, _))| (k.as_str(), i)).collect();
        if !(a.unordered || b.unordered) {
            let left_order: Vec<&str> =
                a.entries.iter().map(|(k, _)| k.as_str()).filter(|k| index.contains_key(k)).collect();
            let right_order: Vec<&str> =
                b.entries.iter().map(|(k, _)| k.as_str()).filter(|k| a.get(k).is_some()).collect();
            if left_order != right_order {
                let keys = |ks: &[&str]| Node::Array(ks.iter().map(|k| Node::String(k.to_string())).collect());
                self.report(Kind::KeyOrder, Some(&keys(&left_order)), Some(&keys(&right_order)), None);
            }
        }
        for (k, lv) in &a.entries {
            match index.get(k.as_str()) {
                Some(&j) => {
                    let rv = &b.entries[j].1;
                    self.within(Seg::Key(k.clone()), Seg::Key(k.clone()), |d| d.node(lv, rv));
                }
                None => self.within(Seg::Key(k.clone()), Seg::Key(k.clone()), |d| {
                    d.report(Kind::OnlyLeft, Some(lv), None, None)
                }),
            }
        }
        for (k, rv) in &b.entries {
            if a.get(k).is_none() {
                self.within(Seg::Key(k.clone()), Seg::Key(k.clone()), |d| {
                    d.report(Kind::OnlyRight, None, Some(rv), None)
                });
            }
        }
    }

    fn array(&mut self, a: &[Node], b: &[Node]) {
        let is_tools = matches!(self.lpath.last(), Some(Seg::Key(k)) if k == "tools");
        if is_tools && let (Some(ka), Some(kb)) = (tool_keys(a), tool_keys(b)) {
            return self.keyed(a, b, &ka, &kb);
        }
        if a == b {
            // The common case, and a cheap test: equal numbering too. Pair in order (ids still get paired).
            for (i, (l, r)) in a.iter().zip(b).enumerate() {
                self.within(Seg::Index(i), Seg::Index(i), |d| d.node(l, r));
            }
            return;
        }
        let fa: Vec<u64> = a.iter().map(Node::fingerprint).collect();
        let fb: Vec<u64> = b.iter().map(Node::fingerprint).collect();
        let mut pairs: Vec<(usize, usize)> = Vec::new();
        let mut left_rest: Vec<usize> = Vec::new();
        let mut right_rest: Vec<usize> = Vec::new();
        // Changed elements within a replaced run, paired by signature once moves are known.
        let mut blocks: Vec<(Vec<usize>, Vec<usize>)> = Vec::new();
        for op in capture_diff_slices(Algorithm::Myers, &fa, &fb) {
            match op {
                DiffOp::Equal { old_index, new_index, len } => {
                    pairs.extend((0..len).map(|k| (old_index + k, new_index + k)))
                }
                DiffOp::Delete { old_index, old_len, .. } => left_rest.extend(old_index..old_index + old_len),
                DiffOp::Insert { new_index, new_len, .. } => right_rest.extend(new_index..new_index + new_len),
                DiffOp::Replace { old_index, old_len, new_index, new_len } => blocks
                    .push(((old_index..old_index + old_len).collect(), (new_index..new_index + new_len).collect())),
            }
        }
        // Moves: an element gone from one place and equal to one that appeared elsewhere.
        let mut left_pool: Vec<usize> = left_rest.clone();
        let mut right_pool: Vec<usize> = right_rest.clone();
        for (l, r) in &blocks {
            left_pool.extend(l);
            right_pool.extend(r);
        }
        let mut moved: Vec<(usize, usize)> = Vec::new();
        for &i in &left_pool {
            if let Some(pos) = right_pool.iter().position(|&j| fb[j] == fa[i]) {
                moved.push((i, right_pool.remove(pos)));
            }
        }
        let is_moved_left = |i: usize| moved.iter().any(|(l, _)| *l == i);
        let is_moved_right = |j: usize| moved.iter().any(|(_, r)| *r == j);
        let mut changed: Vec<(usize, usize)> = Vec::new();
        let mut only_left: Vec<usize> = left_rest.into_iter().filter(|&i| !is_moved_left(i)).collect();
        let mut only_right: Vec<usize> = right_rest.into_iter().filter(|&j| !is_moved_right(j)).collect();
        for (ls, rs) in blocks {
            // Within a replaced run: pair elements of the same type, role and name first, then the rest in order
            // (so that a message whose role changed is one divergence at its role).
            let mut rs: Vec<usize> = rs.into_iter().filter(|&j| !is_moved_right(j)).collect();
            let mut unpaired = Vec::new();
            for i in ls.into_iter().filter(|&i| !is_moved_left(i)) {
                match rs.iter().position(|&j| signature(&b[j]) == signature(&a[i])) {
                    Some(pos) => changed.push((i, rs.remove(pos))),
                    None => unpaired.push(i),
                }
            }
            let paired_in_order = unpaired.len().min(rs.len());
            changed.extend(unpaired.iter().copied().zip(rs.drain(..paired_in_order)));
            only_left.extend(&unpaired[paired_in_order..]);
            only_right.extend(rs);
        }
        pairs.extend(changed);
        pairs.sort();
        for (i, j) in pairs {
            self.within(Seg::Index(i), Seg::Index(j), |d| d.node(&a[i], &b[j]));
        }
        for (i, j) in moved {
            self.within(Seg::Index(i), Seg::Index(j), |d| {
                let note = format!("at index {i} on the left, {j} on the right");
                d.report(Kind::Moved, Some(&a[i]), Some(&b[j]), Some(note));
                d.node(&a[i], &b[j]);
            });
        }
        only_left.sort();
        only_right.sort();
        for i in only_left {
            self.within(Seg::Index(i), Seg::Index(i), |d| d.report(Kind::OnlyLeft, Some(&a[i]), None, None));
        }
        for j in only_right {
            self.within(Seg::Index(j), Seg::Index(j), |d| d.report(Kind::OnlyRight, None, Some(&b[j]), None));
        }
    }

    /// Tools pair by name: one missing, added or moved is one divergence, not a shift of every index after it.
    fn keyed(&mut self, a: &[Node], b: &[Node], ka: &[String], kb: &[String]) {
        let common_left: Vec<&String> = ka.iter().filter(|k| kb.contains(k)).collect();
        let common_right: Vec<&String> = kb.iter().filter(|k| ka.contains(k)).collect();
        let mut in_order: Vec<&String> = Vec::new();
        for op in capture_diff_slices(Algorithm::Myers, &common_left, &common_right) {
            if let DiffOp::Equal { old_index, len, .. } = op {
                in_order.extend(&common_left[old_index..old_index + len]);
            }
        }
        for (i, key) in ka.iter().enumerate() {
            match kb.iter().position(|k| k == key) {
                Some(j) => self.within(Seg::Index(i), Seg::Index(j), |d| {
                    if !in_order.contains(&key) {
                        let note = format!("tool `{key}` is at index {i} on the left, {j} on the right");
                        d.report(
                            Kind::Moved,
                            Some(&Node::String(key.clone())),
                            Some(&Node::String(key.clone())),
                            Some(note),
                        );
                    }
                    d.node(&a[i], &b[j]);
                }),
                None => self.within(Seg::Index(i), Seg::Index(i), |d| {
                    d.report(Kind::OnlyLeft, Some(&a[i]), None, Some(format!("tool `{key}`")))
                }),
            }
        }
        for (j, key) in kb.iter().enumerate() {
            if !ka.contains(key) {
                self.within(Seg::Index(j), Seg::Index(j), |d| {
                    d.report(Kind::OnlyRight, None, Some(&b[j]), Some(format!("tool `{key}`")))
                });
            }
        }
    }

    fn text(&mut self, l: &Node, r: &Node) {
        let (Some(ls), Some(rs)) = (segments_of(l), segments_of(r)) else { unreachable!("text nodes have segments") };
        let same_shape = ls.len() == rs.len()
            && ls.iter().zip(rs.iter()).all(|pair| match pair {
                (Segment::Literal(a), Segment::Literal(b)) => a == b,
                (Segment::Placeholder(_), Segment::Placeholder(_)) => true,
                _ => false,
            });
        if !same_shape {
            return self.report(Kind::Changed, Some(l), Some(r), None);
        }
        let problem = ls
            .iter()
            .zip(rs.iter())
            .filter_map(|pair| match pair {
                (Segment::Placeholder(p), Segment::Placeholder(q)) => self.placeholder(p, q),
                _ => None,
            })
            .next();
        if let Some(problem) = problem {
            self.report_pairing(problem, l, r);
        }
    }

    /// Pairs two placeholders found at the same place, or says why they cannot be.
    fn placeholder(&mut self, p: &Placeholder, q: &Placeholder) -> Option<PairingProblem> {
        if p.kind != q.kind {
            return Some(PairingProblem::Kind);
        }
        let here = || Origin { request: self.request.to_string(), path: pointer(&self.lpath) };
        match (self.pairing.left_to_right.get(p), self.pairing.right_to_left.get(q)) {
            (Some((q2, _)), _) if q2 == q => None,
            (Some((_, origin)), _) => Some(PairingProblem::LeftRepeats(origin.clone())),
            (None, Some((_, origin))) => Some(PairingProblem::RightRepeats(origin.clone())),
            (None, None) => {
                let origin = here();
                self.pairing.left_to_right.insert(p.clone(), (q.clone(), origin.clone()));
                self.pairing.right_to_left.insert(q.clone(), (p.clone(), origin));
                None
            }
        }
    }

    fn report_pairing(&mut self, problem: PairingProblem, l: &Node, r: &Node) {
        let at = |o: &Origin| {
            if o.request == self.request { format!("at {}", o.path) } else { format!("at {} in {}", o.path, o.request) }
        };
        let (kind, note) = match problem {
            PairingProblem::Kind => (Kind::Changed, "ids of another kind".to_string()),
            PairingProblem::LeftRepeats(o) => {
                (Kind::RelationBroken, format!("the left has the same value here as {}; the right has another", at(&o)))
            }
            PairingProblem::RightRepeats(o) => {
                (Kind::RelationBroken, format!("the right has the same value here as {}; the left has another", at(&o)))
            }
        };
        self.report(kind, Some(l), Some(r), Some(note));
    }
}

enum PairingProblem {
    /// The placeholders are of different kinds (a v4 UUID against a v7 one, say).
    Kind,
    /// The left placeholder was paired with another right one before, there.
    LeftRepeats(Origin),
    /// The right placeholder was paired with another left one before, there.
    RightRepeats(Origin),
}

/// The name of each tool (its type when it has no name); `None` unless every tool has one and names are unique.
fn tool_keys(tools: &[Node]) -> Option<Vec<String>> {
    let keys: Vec<String> = tools
        .iter()
        .map(|t| {
            let name = t.get("name").and_then(Node::as_text);
            let ty = t.get("type").and_then(Node::as_text);
            match (name, ty) {
                (Some(n), _) => Some(n),
                (None, Some(t)) => Some(t),
                _ => None,
            }
        })
        .collect::<Option<_>>()?;
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    (sorted.len() == keys.len()).then_some(keys)
}

/// What pairs changed elements: their type, role and name (or JSON type).
fn signature(node: &Node) -> (String, String, String) {
    let field = |k: &str| node.get(k).and_then(Node::as_text).unwrap_or_default();
    match node {
        Node::Object(_) => (field("type"), field("role"), field("name")),
        other => (other.type_name().to_string(), String::new(), String::new()),
    }
}

/// The category of a divergence, from its kind and path.
fn classify(kind: Kind, path: &[Seg]) -> Category {
    match kind {
        Kind::RelationBroken => return Category::Relation,
        Kind::Changed => {}
        _ => return Category::Schema,
    }
    let key = |i: usize| match path.get(i) {
        Some(Seg::Key(k)) => Some(k.as_str()),
        _ => None,
    };
    let index = |i: usize| matches!(path.get(i), Some(Seg::Index(_)));
    match key(0) {
        Some("body") => {}
        // Headers, method, path, query: the protocol's shape.
        _ => return Category::Schema,
    }
    let last = match path.last() {
        Some(Seg::Key(k)) => Some(k.as_str()),
        _ => None,
    };
    match key(1) {
        Some("instructions") if path.len() == 2 => Category::Prompt,
        Some("tools") if last == Some("description") => Category::Prompt,
        Some("tools") => Category::Schema,
        Some("input") if index(2) => {
            let field = key(3);
            let rest = &path[3.min(path.len())..];
            let text_part = |name: &str| {
                field == Some(name) && (rest.len() == 1 || (rest.len() == 3 && index(4) && key(5) == Some("text")))
            };
            if rest.len() == 1 && matches!(field, Some("type" | "role")) {
                Category::Schema
            } else if text_part("content")
                || text_part("output")
                || text_part("summary")
                || (field == Some("input") && rest.len() == 1)
            {
                Category::Prompt
            } else {
                Category::Value
            }
        }
        _ => Category::Value,
    }
}

#[cfg(test)]
mod tests;
