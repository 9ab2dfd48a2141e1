//! `tool_search`: upstream's search over the deferred tools, as a pure function.
//!
//! Upstream Codex 0.169.0 keeps some tools out of the request's `tools` ("deferred") and offers them through the
//! client-executed `tool_search` tool. On the exec path with gpt-5.5 the deferred tools are the five multi-agent
//! tools of the `multi_agent_v1` namespace (`spawn_agent`, `send_input`, `resume_agent`, `wait_agent`,
//! `close_agent`, in upstream's registry order); the prompt pack carries their definitions
//! (`Family::deferred_tools`, taken from recorded `tool_search_output` items).
//!
//! # The call
//!
//! The model sends `{"type": "tool_search_call", "call_id", "execution": "client", "arguments": {"query", "limit"?}}`.
//! The arguments are read as `{query: string, limit?: usize}` (unknown keys ignored); then:
//!
//! | case | error text ([`tool_search`]'s `Err`) |
//! | --- | --- |
//! | arguments that do not deserialize | `failed to parse tool_search arguments: <serde_json's message>`, e.g. ``missing field `query` `` |
//! | `query.trim()` empty | `query must not be empty` |
//! | `limit` 0 | `limit must be greater than zero` |
//!
//! The error texts never reach the model: in every one of these cases upstream answers with a `tool_search_output`
//! whose `tools` is empty (the captures of the `tool-search` scenario show all three). No deferred tool at all also
//! gives an empty `tools`.
//!
//! # The answer item
//!
//! As recorded (`captures/codex-0.169.0/tool-search`), keys in this order:
//!
//! ```json
//! {"type": "tool_search_output", "id": "tso_<uuid>", "call_id": "<the call's call_id>", "status": "completed",
//!  "execution": "client", "tools": [ ... ]}
//! ```
//!
//! The `id` is `tso_` and a v7 UUID for searches that ran (and for the empty query and limit 0), but a v5
//! (name-based) UUID when the arguments did not deserialize: upstream answers those at once, while the stream is
//! still being read, before the outputs of the calls that did run (whose outputs keep the calls' order). The
//! `tool_search_call` itself is echoed back before them as the model sent it (`type`, `id`, `call_id`, `status`,
//! `execution`, `arguments`). [`output_item`] builds the item.
//!
//! # Ranking
//!
//! Upstream ranks with the `bm25` crate (2.3.2) over one document per deferred tool, and this module reproduces its
//! arithmetic exactly:
//!
//! - **Tokens**: the text is transliterated to ASCII (`deunicode`: `é` → `e`, `—` → `--`), lowercased and split
//!   into words at Unicode (UAX #29) word boundaries (once a non-ASCII character has been seen, `deunicode` drops the
//!   ASCII control characters after it, so a tab or newline there joins the words around it), keeping words with a letter or digit (`spawn_agent`,
//!   `agent's`, `3.14`, `a:b` stay whole; `sub-agent` is two words); NLTK's English stop words are dropped and the
//!   rest stemmed with Snowball's English (Porter2) stemmer. Tokens are compared by their 32-bit FxHash, as upstream.
//!   Only C1 controls, Latin-1, Latin Extended-A, the general punctuation block and a few arrows are transliterated
//!   here; other non-ASCII characters are kept as they are (upstream would transliterate them too).
//! - **Scores**: BM25 with k1 = 1.2, b = 0.75, the average document length of the indexed documents, in `f32`:
//!   a document's weight for a token is `tf·(k1+1) / (tf + k1·(1 − b + b·len/avgdl))`, a token's idf is
//!   `ln(1 + (N − df + 0.5)/(df + 0.5))`, and a document's score is the sum over the query's tokens (repeated
//!   tokens count again) of idf × weight. Only documents sharing a token with the query are returned, best first,
//!   at most `limit` (default 8).
//! - **Ties**: upstream collects the matching documents in a `std` `HashSet` (random order per process) and sorts
//!   them stably by score, so equal scores come out in random order there; here they come out in the order of
//!   `deferred`. The `tool-search` scenario's queries avoid ties for that reason.
//! - **Output**: each document's output is its tool wrapped in its namespace (`{"type": "namespace", "name",
//!   "description", "tools": [tool]}`), or the tool alone outside namespaces; outputs of the same namespace are
//!   merged into the first one's place, tools in rank order.
//!
//! # The indexed text: where this differs from upstream
//!
//! What upstream indexes for a tool is not always what the tool's definition says. For tools without a text of
//! their own, upstream indexes the namespace's name and description, then the tool's name, its name with `_` as
//! spaces, its description, and for each JSON-Schema level its description, property names (sorted) and, nested,
//! `items` and `anyOf` (parts trimmed, empty ones skipped, joined with spaces): that is [`default_search_text`].
//! But for the five multi-agent tools upstream indexes a short keyword list written into its source for each tool,
//! which never appears on the wire and so cannot enter this project (upstream text enters only as recorded data).
//! With the default texts the ranking of those tools therefore differs from upstream's for many queries (for the
//! recorded query "wait for an agent's final result, send it input, then close or resume it" with limit 3, upstream
//! answers wait_agent, resume_agent, send_input). [`ToolSearchIndex::with_search_texts`] takes other texts for
//! whoever has them from a legitimate source; everything else (arguments, errors, tokens, scores, limit, grouping)
//! is upstream's.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use serde_json::{Value, json};

/// How many tools a search returns when the call gives no `limit`.
pub const DEFAULT_LIMIT: usize = 8;

const K1: f32 = 1.2;
const B: f32 = 0.75;
/// The average document length the `bm25` crate falls back to when it has none.
const FALLBACK_AVGDL: f32 = 256.0;

/// The `tools` of the `tool_search_output` upstream answers to a call with these arguments (the JSON text of the
/// call's `arguments`), over `deferred` (the pack's deferred tools: namespaces with their tools, or tools outside
/// namespaces), each tool indexed by [`default_search_text`]. `Err` holds upstream's error text; upstream answers
/// every error with an empty `tools` (see the module documentation).
pub fn tool_search(deferred: &[Value], arguments: &str) -> Result<Vec<Value>, String> {
    ToolSearchIndex::new(deferred).search(arguments)
}

/// The `tool_search_output` item answering `call_id` with `tools`, keys in upstream's order. `id` is the item's id
/// (`tso_<uuid>`, see the module documentation).
#[allow(dead_code)] // for the caller's wiring
pub fn output_item(id: &str, call_id: &str, tools: Vec<Value>) -> Value {
    json!({
        "type": "tool_search_output",
        "id": id,
        "call_id": call_id,
        "status": "completed",
        "execution": "client",
        "tools": tools,
    })
}

/// The arguments upstream reads; the name matters: serde's messages name the struct (`expected struct
/// SearchToolCallParams`).
#[derive(Deserialize)]
struct SearchToolCallParams {
    query: String,
    #[serde(default)]
    limit: Option<usize>,
}

/// The deferred tools, indexed for searching.
pub struct ToolSearchIndex {
    /// Per document (one per deferred tool, in the order of `deferred`): what a hit returns.
    outputs: Vec<Value>,
    engine: Engine,
}

impl ToolSearchIndex {
    /// Each tool indexed by [`default_search_text`].
    pub fn new(deferred: &[Value]) -> ToolSearchIndex {
        ToolSearchIndex::with_search_texts(deferred, default_search_text)
    }

    /// Each tool indexed by the text `search_text(namespace, tool)` gives (`namespace` without its `tools`).
    pub fn with_search_texts(
        deferred: &[Value],
        search_text: impl Fn(Option<&Value>, &Value) -> String,
    ) -> ToolSearchIndex {
        let mut outputs = Vec::new();
        let mut texts = Vec::new();
        for entry in deferred {
            if entry.get("type").and_then(Value::as_str) == Some("namespace") {
                let mut namespace = entry.clone();
                if let Some(object) = namespace.as_object_mut() {
                    object.insert("tools".into(), Value::Array(Vec::new()));
                }
                for tool in entry.get("tools").and_then(Value::as_array).into_iter().flatten() {
                    texts.push(search_text(Some(&namespace), tool));
                    let mut output = namespace.clone();
                    output["tools"] = Value::Array(vec![tool.clone()]);
                    outputs.push(output);
                }
            } else {
                texts.push(search_text(None, entry));
                outputs.push(entry.clone());
            }
        }
        ToolSearchIndex { outputs, engine: Engine::new(&texts) }
    }

    /// As [`tool_search`].
    pub fn search(&self, arguments: &str) -> Result<Vec<Value>, String> {
        let parse_error = |e: serde_json::Error| format!("failed to parse tool_search arguments: {e}");
        let value: Value = serde_json::from_str(arguments).map_err(parse_error)?;
        let params: SearchToolCallParams = serde_json::from_value(value).map_err(parse_error)?;
        let query = params.query.trim();
        if query.is_empty() {
            return Err("query must not be empty".into());
        }
        let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 {
            return Err("limit must be greater than zero".into());
        }
        if self.outputs.is_empty() {
            return Ok(Vec::new());
        }
        let hits = self.engine.search(query, limit);
        Ok(coalesce(hits.into_iter().map(|(doc, _)| self.outputs[doc].clone())))
    }
}

/// Outputs of the same namespace merged into the first one's place, in order; tools outside namespaces as they are.
fn coalesce(outputs: impl IntoIterator<Item = Value>) -> Vec<Value> {
    let mut merged: Vec<Value> = Vec::new();
    for output in outputs {
        let namespace = (output.get("type").and_then(Value::as_str) == Some("namespace"))
            .then(|| output.get("name").and_then(Value::as_str).map(str::to_string))
            .flatten();
        let existing = namespace.as_deref().and_then(|name| {
            merged.iter_mut().find(|m| {
                m.get("type").and_then(Value::as_str) == Some("namespace")
                    && m.get("name").and_then(Value::as_str) == Some(name)
            })
        });
        match existing {
            Some(existing) => {
                let tools = output.get("tools").and_then(Value::as_array).cloned().unwrap_or_default();
                if let Some(list) = existing.get_mut("tools").and_then(Value::as_array_mut) {
                    list.extend(tools);
                }
            }
            None => merged.push(output),
        }
    }
    merged
}

/// The text upstream indexes for a tool that has none of its own: the namespace's name and description, then the
/// tool's name, its name with `_` as spaces, its description, and its parameters' descriptions and property names
/// (a custom tool: its name, description and format syntax); trimmed parts, empty ones skipped, joined with spaces.
pub fn default_search_text(namespace: Option<&Value>, tool: &Value) -> String {
    let mut parts = Vec::new();
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    if let Some(namespace) = namespace {
        push_part(&mut parts, text(namespace, "name"));
        push_part(&mut parts, text(namespace, "description"));
    }
    let name = text(tool, "name");
    if tool.get("type").and_then(Value::as_str) == Some("custom") {
        push_part(&mut parts, name);
        push_part(&mut parts, text(tool, "description"));
        push_part(&mut parts, tool.get("format").map(|f| text(f, "syntax")).unwrap_or_default());
    } else {
        push_part(&mut parts, name.clone());
        push_part(&mut parts, name.replace('_', " "));
        push_part(&mut parts, text(tool, "description"));
        if let Some(parameters) = tool.get("parameters") {
            schema_parts(parameters, &mut parts);
        }
    }
    parts.join(" ")
}

fn schema_parts(schema: &Value, parts: &mut Vec<String>) {
    if let Some(description) = schema.get("description").and_then(Value::as_str) {
        push_part(parts, description.to_string());
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        let mut names: Vec<&String> = properties.keys().collect();
        names.sort();
        for name in names {
            push_part(parts, name.clone());
            schema_parts(&properties[name], parts);
        }
    }
    if let Some(items) = schema.get("items") {
        schema_parts(items, parts);
    }
    if let Some(variants) = schema.get("anyOf").and_then(Value::as_array) {
        for variant in variants {
            schema_parts(variant, parts);
        }
    }
}

fn push_part(parts: &mut Vec<String>, part: String) {
    let part = part.trim();
    if !part.is_empty() {
        parts.push(part.to_string());
    }
}

// ---------------------------------------------------------------------------------------------------------------
// BM25, as the `bm25` crate 2.3.2 computes it (`SearchEngine<usize>` with `Language::English`).

/// A document's tokens: by token hash, the token's BM25 weight in the document.
struct Document {
    weights: HashMap<u32, f32>,
}

pub(crate) struct Engine {
    documents: Vec<Document>,
    /// By token hash: how many documents hold it.
    document_frequency: HashMap<u32, usize>,
}

impl Engine {
    pub(crate) fn new(texts: &[String]) -> Engine {
        let tokenized: Vec<Vec<u32>> =
            texts.iter().map(|t| tokenize(t).iter().map(|s| fx_hash32(s)).collect()).collect();
        let avgdl = if tokenized.is_empty() {
            FALLBACK_AVGDL
        } else {
            let total: u64 = tokenized.iter().map(|t| t.len() as u64).sum();
            (total as f64 / tokenized.len() as f64) as f32
        };
        let avgdl = if avgdl <= 0.0 { FALLBACK_AVGDL } else { avgdl };
        let mut document_frequency: HashMap<u32, usize> = HashMap::new();
        let documents = tokenized
            .iter()
            .map(|tokens| {
                let mut counts: HashMap<u32, i32> = HashMap::new();
                for token in tokens {
                    *counts.entry(*token).or_insert(0) += 1;
                }
                let length_ratio = tokens.len() as f32 / avgdl;
                let weights: HashMap<u32, f32> = counts
                    .iter()
                    .map(|(token, count)| {
                        let tf = *count as f32;
                        (*token, tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * length_ratio)))
                    })
                    .collect();
                for token in weights.keys() {
                    *document_frequency.entry(*token).or_insert(0) += 1;
                }
                Document { weights }
            })
            .collect();
        Engine { documents, document_frequency }
    }

    fn idf(&self, token: u32) -> f32 {
        let frequency = self.document_frequency.get(&token).copied().unwrap_or(0) as f32;
        let numerator = self.documents.len() as f32 - frequency + 0.5;
        let denominator = frequency + 0.5;
        (1f32 + numerator / denominator).ln()
    }

    /// The documents sharing a token with the query, best first (ties in document order), at most `limit`: each
    /// with its score.
    pub(crate) fn search(&self, query: &str, limit: usize) -> Vec<(usize, f32)> {
        let query: Vec<u32> = tokenize(query).iter().map(|s| fx_hash32(s)).collect();
        let wanted: HashSet<u32> = query.iter().copied().collect();
        let mut scored: Vec<(usize, f32)> = self
            .documents
            .iter()
            .enumerate()
            .filter(|(_, d)| d.weights.keys().any(|t| wanted.contains(t)))
            .map(|(index, document)| {
                let mut score = 0f32;
                for token in &query {
                    score += self.idf(*token) * document.weights.get(token).copied().unwrap_or(0.0);
                }
                (index, score)
            })
            .collect();
        scored.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
        scored.truncate(limit);
        scored
    }
}

/// FxHash (32-bit) of a string, as `fxhash::hash32` hashes a `str` (its bytes, then `0xff`) on little-endian
/// machines.
pub(crate) fn fx_hash32(text: &str) -> u32 {
    const SEED: u32 = 0x2722_0a95;
    let step = |hash: u32, word: u32| (hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    let mut hash = 0u32;
    let mut chunks = text.as_bytes().chunks_exact(4);
    for chunk in &mut chunks {
        hash = step(hash, u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]));
    }
    for byte in chunks.remainder() {
        hash = step(hash, u32::from(*byte));
    }
    step(hash, 0xff)
}

// ---------------------------------------------------------------------------------------------------------------
// Tokens, as the `bm25` crate's `DefaultTokenizer` makes them for English.

/// Transliterated, lowercased, split into words, stop words dropped, stemmed.
pub(crate) fn tokenize(text: &str) -> Vec<String> {
    if text.is_empty() {
        return Vec::new();
    }
    let text = transliterate(text).to_lowercase();
    words(&text).into_iter().filter(|w| !is_stop_word(w)).map(stem).collect()
}

/// `deunicode`'s ASCII for Latin-1 and Latin Extended-A (U+00A0 to U+017F).
const LATIN: [&str; 0x17F - 0xA0 + 1] = [
    " ", "!", "C/", "PS", "$?", "Y=", "|", "SS", "\"", "(c)", "a", "<<", "!", "", "(r)", "-", "deg", "+-", "2", "3",
    "'", "u", "P", "*", ",", "1", "o", ">>", "1/4", "1/2", "3/4", "?", "A", "A", "A", "A", "A", "A", "AE", "C", "E",
    "E", "E", "E", "I", "I", "I", "I", "D", "N", "O", "O", "O", "O", "O", "x", "O", "U", "U", "U", "U", "Y", "Th",
    "ss", "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i", "d", "n", "o", "o", "o",
    "o", "o", "/", "o", "u", "u", "u", "u", "y", "th", "y", "A", "a", "A", "a", "A", "a", "C", "c", "C", "c", "C", "c",
    "C", "c", "D", "d", "D", "d", "E", "e", "E", "e", "E", "e", "E", "e", "E", "e", "G", "g", "G", "g", "G", "g", "G",
    "g", "H", "h", "H", "h", "I", "i", "I", "i", "I", "i", "I", "i", "I", "i", "IJ", "ij", "J", "j", "K", "k", "k",
    "L", "l", "L", "l", "L", "l", "L", "l", "L", "l", "N", "n", "N", "n", "N", "n", "'n", "ng", "NG", "O", "o", "O",
    "o", "O", "o", "OE", "oe", "R", "r", "R", "r", "R", "r", "S", "s", "S", "s", "S", "s", "S", "s", "T", "t", "T",
    "t", "T", "t", "U", "u", "U", "u", "U", "u", "U", "u", "U", "u", "U", "u", "W", "w", "Y", "y", "Y", "Z", "z", "Z",
    "z", "Z", "z", "s",
];

/// `deunicode`'s ASCII for general punctuation (U+2010 to U+203A).
const PUNCTUATION: [&str; 0x203A - 0x2010 + 1] = [
    "-", "-", "-", "-", "--", "--", "||", "_", "'", "'", ",", "'", "\"", "\"", ",,", "\"", "+", "++", "*", "*>", ".",
    "..", "...", ".", "\n", "\n\n", "", "", "", "", "", " ", "%0", "%00", "'", "''", "'''", "`", "``", "```", "^", "<",
    ">",
];

fn transliterate(text: &str) -> String {
    // Like `deunicode`, text up to the first character at or above U+007F is kept as it is; from there on every
    // character is mapped, and ASCII control characters (tabs and newlines among them) map to nothing.
    let ascii_prefix = text.bytes().take_while(|b| *b < 0x7f).count();
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..ascii_prefix]);
    for c in text[ascii_prefix..].chars() {
        let code = c as usize;
        match code {
            0..=0x1f | 0x7f..=0x9f => {}
            0x20..=0x7e => out.push(c),
            0xa0..=0x17f => out.push_str(LATIN[code - 0xa0]),
            0x2010..=0x203a => out.push_str(PUNCTUATION[code - 0x2010]),
            0x2190 | 0x2192 | 0x2212 => out.push('-'),
            0x2191 | 0x2193 => out.push('|'),
            _ => out.push(c),
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum WordClass {
    Letter,
    Numeric,
    /// `_`
    ExtendNumLet,
    /// `:`
    MidLetter,
    /// `.` and `'`
    MidNumLetQ,
    /// `,` and `;`
    MidNum,
    Other,
}

fn word_class(c: char) -> WordClass {
    match c {
        'a'..='z' | 'A'..='Z' => WordClass::Letter,
        '0'..='9' => WordClass::Numeric,
        '_' => WordClass::ExtendNumLet,
        ':' => WordClass::MidLetter,
        '.' | '\'' => WordClass::MidNumLetQ,
        ',' | ';' => WordClass::MidNum,
        c if !c.is_ascii() && c.is_alphabetic() => WordClass::Letter,
        c if !c.is_ascii() && c.is_numeric() => WordClass::Numeric,
        _ => WordClass::Other,
    }
}

/// The words of a text at UAX #29 word boundaries that hold a letter or a digit (`unicode_words`).
fn words(text: &str) -> Vec<&str> {
    use WordClass::*;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let class = |i: usize| chars.get(i).map(|(_, c)| word_class(*c));
    let mut words = Vec::new();
    let mut start = 0;
    for i in 1..=chars.len() {
        let boundary = if i == chars.len() {
            true
        } else {
            let (before, after) = (class(i - 1).unwrap(), class(i).unwrap());
            let before2 = if i >= 2 { class(i - 2) } else { None };
            let after2 = class(i + 1);
            let joins = match (before, after) {
                (Letter, Letter) | (Numeric, Numeric) | (Letter, Numeric) | (Numeric, Letter) => true,
                (Letter | Numeric | ExtendNumLet, ExtendNumLet) | (ExtendNumLet, Letter | Numeric) => true,
                // WB6, WB12: a middle character joins when the same kind follows it.
                (Letter, MidLetter | MidNumLetQ) => after2 == Some(Letter),
                (Numeric, MidNum | MidNumLetQ) => after2 == Some(Numeric),
                // WB7, WB11: and the character after it joins too.
                (MidLetter | MidNumLetQ, Letter) => before2 == Some(Letter),
                (MidNum | MidNumLetQ, Numeric) => before2 == Some(Numeric),
                _ => false,
            };
            !joins
        };
        if boundary {
            let end = chars.get(i).map(|(at, _)| *at).unwrap_or(text.len());
            let from = chars[start].0;
            let word = &text[from..end];
            if word.chars().any(char::is_alphanumeric) {
                words.push(word);
            }
            start = i;
        }
    }
    words
}

/// NLTK's English stop words (the `stop-words` crate's list the `bm25` crate uses).
const STOP_WORDS: &str = "i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself \
    yourselves he him his himself she she's her hers herself it it's its itself they them their theirs themselves \
    what which who whom this that that'll these those am is are was were be been being have has had having do does \
    did doing a an the and but if or because as until while of at by for with about against between into through \
    during before after above below to from up down in out on off over under again further then once here there \
    when where why how all any both each few more most other some such no nor not only own same so than too very s \
    t can will just don don't should should've now d ll m o re ve y ain aren aren't couldn couldn't didn didn't \
    doesn doesn't hadn hadn't hasn hasn't haven haven't isn isn't ma mightn mightn't mustn mustn't needn needn't \
    shan shan't shouldn shouldn't wasn wasn't weren weren't won won't wouldn wouldn't";

fn is_stop_word(word: &str) -> bool {
    static SET: std::sync::OnceLock<HashSet<&'static str>> = std::sync::OnceLock::new();
    SET.get_or_init(|| STOP_WORDS.split_whitespace().collect()).contains(word)
}

// ---------------------------------------------------------------------------------------------------------------
// Snowball's English (Porter2) stemmer, as `rust-stemmers` 1.2 runs it.

fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y')
}

/// A short syllable ends at `end` (exclusive): non-vowel, vowel, then a non-vowel other than w, x or Y; or, at the
/// start of the word, vowel then non-vowel.
fn short_syllable_before(w: &[char], end: usize) -> bool {
    if end >= 3
        && !is_vowel(w[end - 1])
        && !matches!(w[end - 1], 'w' | 'x' | 'Y')
        && is_vowel(w[end - 2])
        && !is_vowel(w[end - 3])
    {
        return true;
    }
    end == 2 && !is_vowel(w[1]) && is_vowel(w[0])
}

fn ends_with(w: &[char], suffix: &str) -> bool {
    let s: Vec<char> = suffix.chars().collect();
    w.len() >= s.len() && w[w.len() - s.len()..] == s[..]
}

/// The longest of `suffixes` the word ends with.
fn longest_suffix<'a>(w: &[char], suffixes: &[&'a str]) -> Option<&'a str> {
    suffixes.iter().copied().filter(|s| ends_with(w, s)).max_by_key(|s| s.chars().count())
}

fn replace_end(w: &mut Vec<char>, suffix_len: usize, with: &str) {
    w.truncate(w.len() - suffix_len);
    w.extend(with.chars());
}

pub(crate) fn stem(word: &str) -> String {
    const EXCEPTIONS: [(&str, &str); 18] = [
        ("skis", "ski"),
        ("skies", "sky"),
        ("dying", "die"),
        ("lying", "lie"),
        ("tying", "tie"),
        ("idly", "idl"),
        ("gently", "gentl"),
        ("ugly", "ugli"),
        ("early", "earli"),
        ("only", "onli"),
        ("singly", "singl"),
        ("sky", "sky"),
        ("news", "news"),
        ("howe", "howe"),
        ("atlas", "atlas"),
        ("cosmos", "cosmos"),
        ("bias", "bias"),
        ("andes", "andes"),
    ];
    if let Some((_, stem)) = EXCEPTIONS.iter().find(|(w, _)| *w == word) {
        return stem.to_string();
    }
    if word.chars().count() < 3 {
        return word.to_string();
    }
    let mut w: Vec<char> = word.chars().collect();

    // Prelude: a leading apostrophe goes; y at the start or after a vowel becomes Y.
    if w.first() == Some(&'\'') {
        w.remove(0);
    }
    let mut y_found = false;
    if w.first() == Some(&'y') {
        w[0] = 'Y';
        y_found = true;
    }
    for i in 1..w.len() {
        if w[i] == 'y' && is_vowel(w[i - 1]) {
            w[i] = 'Y';
            y_found = true;
        }
    }

    // Regions: R1 after the first non-vowel following a vowel (or after gener, commun, arsen), R2 likewise in R1.
    let after_vowel_consonant = |from: usize, w: &[char]| -> Option<usize> {
        let v = (from..w.len()).find(|&i| is_vowel(w[i]))?;
        (v + 1..w.len()).find(|&i| !is_vowel(w[i])).map(|i| i + 1)
    };
    let (mut p1, mut p2) = (w.len(), w.len());
    let prefix = ["gener", "commun", "arsen"].iter().find(|p| w.starts_with(&p.chars().collect::<Vec<_>>()));
    let r1 = match prefix {
        Some(p) => Some(p.len()),
        None => after_vowel_consonant(0, &w),
    };
    if let Some(r1) = r1 {
        p1 = r1;
        if let Some(r2) = after_vowel_consonant(r1, &w) {
            p2 = r2;
        }
    }

    // Step 0 and 1a.
    if let Some(s) = longest_suffix(&w, &["'", "'s", "'s'"]) {
        w.truncate(w.len() - s.len());
    }
    match longest_suffix(&w, &["sses", "ied", "ies", "s", "us", "ss"]) {
        Some("sses") => replace_end(&mut w, 4, "ss"),
        Some(s @ ("ied" | "ies")) => {
            let before = w.len() - s.len();
            replace_end(&mut w, 3, if before >= 2 { "i" } else { "ie" });
        }
        Some("s") => {
            let before = w.len() - 1;
            if before >= 1 && w[..before - 1].iter().any(|c| is_vowel(*c)) {
                w.truncate(before);
            }
        }
        _ => {}
    }

    const EXCEPTIONS_2: [&str; 8] =
        ["inning", "outing", "canning", "herring", "earring", "proceed", "exceed", "succeed"];
    let word_now: String = w.iter().collect();
    if !EXCEPTIONS_2.contains(&word_now.as_str()) {
        step_1b(&mut w, p1);
        // Step 1c: a final y or Y after a non-vowel that is not the first letter becomes i.
        if let Some(&last) = w.last() {
            let n = w.len();
            if matches!(last, 'y' | 'Y') && n >= 3 && !is_vowel(w[n - 2]) {
                w[n - 1] = 'i';
            }
        }
        step_2(&mut w, p1);
        step_3(&mut w, p1, p2);
        step_4(&mut w, p2);
        step_5(&mut w, p1, p2);
    }

    if y_found {
        for c in &mut w {
            if *c == 'Y' {
                *c = 'y';
            }
        }
    }
    w.into_iter().collect()
}

fn step_1b(w: &mut Vec<char>, p1: usize) {
    let Some(suffix) = longest_suffix(w, &["eed", "eedly", "ed", "edly", "ing", "ingly"]) else { return };
    let start = w.len() - suffix.len();
    if suffix == "eed" || suffix == "eedly" {
        if start >= p1 {
            replace_end(w, suffix.len(), "ee");
        }
        return;
    }
    if !w[..start].iter().any(|c| is_vowel(*c)) {
        return;
    }
    w.truncate(start);
    if longest_suffix(w, &["at", "bl", "iz"]).is_some() {
        w.push('e');
    } else if longest_suffix(w, &["bb", "dd", "ff", "gg", "mm", "nn", "pp", "rr", "tt"]).is_some() {
        w.pop();
    } else if w.len() == p1 && short_syllable_before(w, w.len()) {
        w.push('e');
    }
}

fn step_2(w: &mut Vec<char>, p1: usize) {
    const RULES: [(&str, &str); 24] = [
        ("tional", "tion"),
        ("enci", "ence"),
        ("anci", "ance"),
        ("abli", "able"),
        ("entli", "ent"),
        ("izer", "ize"),
        ("ization", "ize"),
        ("ational", "ate"),
        ("ation", "ate"),
        ("ator", "ate"),
        ("alism", "al"),
        ("aliti", "al"),
        ("alli", "al"),
        ("fulness", "ful"),
        ("ousli", "ous"),
        ("ousness", "ous"),
        ("iveness", "ive"),
        ("iviti", "ive"),
        ("biliti", "ble"),
        ("bli", "ble"),
        ("ogi", "og"),
        ("fulli", "ful"),
        ("lessli", "less"),
        ("li", ""),
    ];
    let suffixes: Vec<&str> = RULES.iter().map(|(s, _)| *s).collect();
    let Some(suffix) = longest_suffix(w, &suffixes) else { return };
    let start = w.len() - suffix.len();
    if start < p1 {
        return;
    }
    let with = RULES.iter().find(|(s, _)| *s == suffix).map(|(_, r)| *r).unwrap_or_default();
    match suffix {
        "ogi" if start == 0 || w[start - 1] != 'l' => {}
        "li" if start == 0 || !matches!(w[start - 1], 'c' | 'd' | 'e' | 'g' | 'h' | 'k' | 'm' | 'n' | 'r' | 't') => {}
        _ => replace_end(w, suffix.len(), with),
    }
}

fn step_3(w: &mut Vec<char>, p1: usize, p2: usize) {
    const RULES: [(&str, &str); 9] = [
        ("tional", "tion"),
        ("ational", "ate"),
        ("alize", "al"),
        ("icate", "ic"),
        ("iciti", "ic"),
        ("ical", "ic"),
        ("ful", ""),
        ("ness", ""),
        ("ative", ""),
    ];
    let suffixes: Vec<&str> = RULES.iter().map(|(s, _)| *s).collect();
    let Some(suffix) = longest_suffix(w, &suffixes) else { return };
    let start = w.len() - suffix.len();
    if start < p1 || (suffix == "ative" && start < p2) {
        return;
    }
    let with = RULES.iter().find(|(s, _)| *s == suffix).map(|(_, r)| *r).unwrap_or_default();
    replace_end(w, suffix.len(), with);
}

fn step_4(w: &mut Vec<char>, p2: usize) {
    const SUFFIXES: [&str; 18] = [
        "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ism", "ate", "iti", "ous",
        "ive", "ize", "ion",
    ];
    let Some(suffix) = longest_suffix(w, &SUFFIXES) else { return };
    let start = w.len() - suffix.len();
    if start < p2 {
        return;
    }
    if suffix == "ion" && (start == 0 || !matches!(w[start - 1], 's' | 't')) {
        return;
    }
    w.truncate(start);
}

fn step_5(w: &mut Vec<char>, p1: usize, p2: usize) {
    let n = w.len();
    match w.last() {
        Some('e') => {
            let start = n - 1;
            if start >= p2 || (start >= p1 && !short_syllable_before(w, start)) {
                w.pop();
            }
        }
        Some('l') if n > p2 && n >= 2 && w[n - 2] == 'l' => {
            w.pop();
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The deferred tools of the default model, as the embedded pack has them.
    fn deferred() -> Vec<Value> {
        rcodex_prompt_pack::embedded().families["gpt-5.5"].deferred_tools.clone()
    }

    fn names(tools: &[Value]) -> Vec<Vec<String>> {
        tools
            .iter()
            .map(|entry| match entry.get("tools").and_then(Value::as_array) {
                Some(list) => list.iter().map(|t| t["name"].as_str().unwrap_or_default().to_string()).collect(),
                None => vec![entry["name"].as_str().unwrap_or_default().to_string()],
            })
            .collect()
    }

    /// Every (tool_search_call, tool_search_output) pair of the recorded `tool-search` scenario, from its last
    /// request (which carries the whole history).
    fn recorded() -> Vec<(Value, Value)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../captures/codex-0.169.0/tool-search/captures/session-01");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        let last: Value = serde_json::from_str(&std::fs::read_to_string(files.last().unwrap()).unwrap()).unwrap();
        let input = last["request"]["body"]["input"].as_array().unwrap().clone();
        let of_type = |t: &str| input.iter().filter(|i| i["type"] == t).cloned().collect::<Vec<_>>();
        let outputs = of_type("tool_search_output");
        of_type("tool_search_call")
            .into_iter()
            .map(|call| {
                let output = outputs.iter().find(|o| o["call_id"] == call["call_id"]).cloned();
                (call, output.expect("every recorded call has its output"))
            })
            .collect()
    }

    #[test]
    fn recorded_errors_and_empty_results_are_upstreams() {
        let deferred = deferred();
        let pairs = recorded();
        assert_eq!(pairs.len(), 6);
        let mut checked = 0;
        for (call, output) in &pairs {
            let arguments = call["arguments"].to_string();
            let ours = tool_search(&deferred, &arguments);
            let recorded = output["tools"].as_array().unwrap();
            let expected = match call["call_id"].as_str().unwrap() {
                "call_search_nothing" => Ok(Vec::new()),
                "call_search_empty" => Err("query must not be empty".to_string()),
                "call_search_zero" => Err("limit must be greater than zero".to_string()),
                "call_search_noquery" => {
                    Err("failed to parse tool_search arguments: missing field `query`".to_string())
                }
                _ => continue,
            };
            assert!(recorded.is_empty(), "upstream answered {arguments} with no tools");
            assert_eq!(ours, expected, "{arguments}");
            checked += 1;
        }
        assert_eq!(checked, 4);
    }

    #[test]
    fn recorded_output_items_have_this_shape() {
        for (call, output) in recorded() {
            let keys: Vec<&str> = output.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, ["type", "id", "call_id", "status", "execution", "tools"]);
            let id = output["id"].as_str().unwrap();
            assert!(id.starts_with("tso_") && id.len() == 40, "{id}");
            let tools = output["tools"].as_array().unwrap().clone();
            assert_eq!(output_item(id, call["call_id"].as_str().unwrap(), tools), output);
        }
    }

    /// Upstream's hits, in its order, rebuilt from the pack's definitions, group into the namespace exactly as
    /// recorded; the pack holds every tool any recorded search found, and only those.
    #[test]
    fn recorded_hits_group_like_upstream_and_the_pack_holds_every_deferred_tool() {
        let deferred = deferred();
        let index = ToolSearchIndex::new(&deferred);
        let by_name = |name: &str| -> Value {
            let at = index
                .outputs
                .iter()
                .position(|o| o["tools"][0]["name"] == name)
                .unwrap_or_else(|| panic!("{name} is not among the pack's deferred tools"));
            index.outputs[at].clone()
        };
        let mut found = HashSet::new();
        for (call, output) in recorded() {
            let recorded = output["tools"].as_array().unwrap();
            if recorded.is_empty() {
                continue;
            }
            let ranked: Vec<String> = names(recorded).concat();
            let limit = call["arguments"]["limit"].as_u64().map(|l| l as usize).unwrap_or(DEFAULT_LIMIT);
            assert!(ranked.len() <= limit);
            assert_eq!(coalesce(ranked.iter().map(|n| by_name(n))), *recorded);
            found.extend(ranked);
        }
        let mut all: Vec<String> = names(&deferred).concat();
        all.sort();
        let mut found: Vec<String> = found.into_iter().collect();
        found.sort();
        assert_eq!(found, all);
        assert_eq!(all, ["close_agent", "resume_agent", "send_input", "spawn_agent", "wait_agent"]);
    }

    /// With the default texts the recorded queries find the same tools as upstream (every deferred tool shares the
    /// word "agent" with them), but not in upstream's order: upstream ranks the multi-agent tools by keyword lists
    /// of its own (see the module documentation).
    #[test]
    fn default_texts_find_upstreams_tools_in_their_own_order() {
        let deferred = deferred();
        for (call, output) in recorded() {
            let recorded = output["tools"].as_array().unwrap();
            if recorded.is_empty() || call["arguments"].get("limit").is_some() {
                continue;
            }
            let ours = tool_search(&deferred, &call["arguments"].to_string()).unwrap();
            let mut theirs = names(recorded).concat();
            let mut mine = names(&ours).concat();
            theirs.sort();
            mine.sort();
            assert_eq!(mine, theirs);
        }
    }

    #[test]
    fn argument_errors_are_upstreams() {
        let deferred = deferred();
        let cases = [
            ("{\"query\": \"  \\n\"}", "query must not be empty"),
            ("{\"query\": \"agent\", \"limit\": 0}", "limit must be greater than zero"),
            ("{}", "failed to parse tool_search arguments: missing field `query`"),
            ("{\"limit\": 2}", "failed to parse tool_search arguments: missing field `query`"),
            ("{\"query\": 5}", "failed to parse tool_search arguments: invalid type: integer `5`, expected a string"),
            (
                "{\"query\": \"x\", \"limit\": 2.0}",
                "failed to parse tool_search arguments: invalid type: floating point `2.0`, expected usize",
            ),
            (
                "{\"query\": \"x\", \"limit\": -1}",
                "failed to parse tool_search arguments: invalid value: integer `-1`, expected usize",
            ),
            (
                "\"agent\"",
                "failed to parse tool_search arguments: invalid type: string \"agent\", expected struct \
                 SearchToolCallParams",
            ),
            ("null", "failed to parse tool_search arguments: invalid type: null, expected struct SearchToolCallParams"),
        ];
        for (arguments, error) in cases {
            assert_eq!(tool_search(&deferred, arguments), Err(error.to_string()), "{arguments}");
        }
        // Unknown keys are ignored; with nothing deferred, a valid search finds nothing.
        assert_eq!(tool_search(&[], "{\"query\": \"agent\", \"extra\": true}"), Ok(Vec::new()));
        assert_eq!(tool_search(&[], "{\"query\": \" \"}"), Err("query must not be empty".into()));
    }

    // The expected values below are what the `bm25` 2.3.2, `rust-stemmers` 1.2.0 and `fxhash` 0.2.1 crates give.

    #[test]
    fn tokens_are_the_bm25_crates() {
        let cases: [(&str, &[&str]); 3] = [
            (
                "Spawn a sub-agent; wait for the agent's results \u{2014} then close_agent 3.14 times, e.g. at 10:30.",
                &["spawn", "sub", "agent", "wait", "agent", "result", "close_ag", "3.14", "time", "e.g", "10", "30"],
            ),
            (
                "Caf\u{e9} na\u{ef}ve r\u{e9}sum\u{e9}s: it's the user\u{2019}s \u{201c}generalization\u{201d}\tand\nruns",
                &["cafe", "naiv", "resum", "user", "general", "andrun"],
            ),
            ("IDs like a:b, 1,000 and v1.2_beta; DON'T STOP!", &["id", "like", "a:b", "1,000", "v1.2_beta", "stop"]),
        ];
        for (text, tokens) in cases {
            assert_eq!(tokenize(text), tokens, "{text}");
        }
        assert!(tokenize("").is_empty());
    }

    #[test]
    fn stems_are_snowball_english() {
        let cases = [
            ("running", "run"),
            ("agents", "agent"),
            ("delegation", "deleg"),
            ("parallel", "parallel"),
            ("caresses", "caress"),
            ("ponies", "poni"),
            ("ties", "tie"),
            ("cries", "cri"),
            ("gas", "gas"),
            ("gaps", "gap"),
            ("kiwis", "kiwi"),
            ("feed", "feed"),
            ("agreed", "agre"),
            ("hopping", "hop"),
            ("hoped", "hope"),
            ("fizzed", "fizz"),
            ("filing", "file"),
            ("skies", "sky"),
            ("dying", "die"),
            ("news", "news"),
            ("inning", "inning"),
            ("generously", "generous"),
            ("communication", "communic"),
            ("arsenal", "arsenal"),
            ("happy", "happi"),
            ("cry", "cri"),
            ("rationally", "ration"),
            ("conditional", "condit"),
            ("hopefulness", "hope"),
            ("goodness", "good"),
            ("formative", "format"),
            ("electrical", "electr"),
            ("adjustment", "adjust"),
            ("adoption", "adopt"),
            ("controll", "control"),
            ("rate", "rate"),
            ("cease", "ceas"),
            ("yellow", "yellow"),
            ("sayings", "say"),
            ("agent's", "agent"),
            ("'tis", "tis"),
            ("reproducibility", "reproduc"),
            ("sub", "sub"),
        ];
        for (word, expected) in cases {
            assert_eq!(stem(word), expected, "{word}");
        }
    }

    #[test]
    fn tokens_hash_like_fxhash32() {
        assert_eq!(fx_hash32("agent"), 0x94a4_4f67);
        assert_eq!(fx_hash32("spawn_agent"), 0x4051_9986);
        assert_eq!(fx_hash32(""), 0xfae8_8a6b);
        assert_eq!(fx_hash32("abcd"), 0x54cd_68f7);
        assert_eq!(fx_hash32("abcde"), 0xc2f4_8c6a);
    }

    #[test]
    fn scores_are_the_bm25_crates_to_the_bit() {
        let docs: Vec<String> = [
            "Run a shell command in the workspace and return its output.",
            "Apply a patch to files in the workspace.",
            "Search the web for current information.",
            "Start a sub-agent that works in parallel on a delegated task.",
            "Stop a running sub-agent.",
            "Stop a running worker.",
        ]
        .map(String::from)
        .to_vec();
        let engine = Engine::new(&docs);
        let cases: [(&str, &[(usize, u32)]); 5] = [
            (
                "run the command in the workspace",
                &[(0, 0x403a_fd57), (1, 0x3f8b_f8b0), (5, 0x3f4f_ce9e), (4, 0x3f3c_75a5)],
            ),
            ("stop the running sub-agent", &[(4, 0x4080_8938), (5, 0x4001_1f52), (3, 0x3fda_d2c2), (0, 0x3f1e_e033)]),
            ("agent agent parallel", &[(3, 0x403f_4239), (4, 0x400b_f8b0)]),
            ("stop running", &[(5, 0x4001_1f52), (4, 0x3fea_3382), (0, 0x3f1e_e033)]),
            ("nothing matches here", &[]),
        ];
        for (query, expected) in cases {
            let got: Vec<(usize, u32)> =
                engine.search(query, usize::MAX).into_iter().map(|(d, s)| (d, s.to_bits())).collect();
            assert_eq!(got, expected, "{query}");
        }
        assert_eq!(engine.search("stop running", 2).len(), 2);
    }

    #[test]
    fn ties_keep_the_order_of_the_deferred_tools_and_namespaces_group_in_rank_order() {
        let tool = |name: &str, description: &str| {
            json!({"type": "function", "name": name, "description": description, "strict": false,
                   "defer_loading": true, "parameters": {"type": "object", "properties": {}}})
        };
        let namespace = |name: &str, tools: Vec<Value>| json!({"type": "namespace", "name": name, "description": format!("Tools of {name}."), "tools": tools});
        let deferred = vec![
            namespace("calendar", vec![tool("list_events", "List events."), tool("create_event", "Create events.")]),
            tool("lookup", "Look up events by name."),
            namespace("mail", vec![tool("send_mail", "Send mail about events.")]),
        ];
        // "events" ties list_events and create_event (same length, same tokens but one): document order.
        let found = tool_search(&deferred, "{\"query\": \"events\"}").unwrap();
        assert_eq!(names(&found), [vec!["list_events", "create_event"], vec!["lookup"], vec!["send_mail"]]);
        assert_eq!(found[0]["description"], "Tools of calendar.");
        let found = tool_search(&deferred, "{\"query\": \"send mail about created events\", \"limit\": 2}").unwrap();
        assert_eq!(names(&found), [vec!["send_mail"], vec!["create_event"]]);
        assert_eq!(found[0]["name"], "mail");
        assert_eq!(found[1]["name"], "calendar");
    }

    #[test]
    fn search_texts_can_be_given() {
        let tool = |name: &str| json!({"type": "function", "name": name, "description": "", "parameters": {}});
        let deferred =
            vec![json!({"type": "namespace", "name": "ns", "description": "d", "tools": [tool("a"), tool("b")]})];
        assert_eq!(
            default_search_text(
                Some(&deferred[0]),
                &json!({"type": "function", "name": "send_input", "description": " Send. ",
                "parameters": {"type": "object", "description": "", "properties": {"z": {"type": "string", "description": "Zed."},
                "items": {"type": "array", "items": {"type": "object", "properties": {"text": {"type": "string"}}}}}}})
            ),
            "ns d send_input send input Send. items text z Zed."
        );
        let index = ToolSearchIndex::with_search_texts(&deferred, |_, tool| {
            if tool["name"] == "b" { "penguin penguin".into() } else { "penguin walrus".into() }
        });
        let found = index.search("{\"query\": \"penguin\"}").unwrap();
        assert_eq!(names(&found), [vec!["b", "a"]]);
        assert!(ToolSearchIndex::new(&deferred).search("{\"query\": \"penguin\"}").unwrap().is_empty());
    }
}
