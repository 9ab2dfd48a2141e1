//! The JSON report: stable, for programs.

use serde::Serialize;
use serde_json::{Value, json};

use super::Options;
use crate::accept::AcceptEntry;
use crate::compare::{Accepted, Comparison, Divergence, SideInfo, Summary};
use crate::normalize::Touch;

/// Names the report's layout; changes that break readers get a new version.
pub const FORMAT: &str = "parity.diff/v1";

#[derive(Serialize)]
struct Report<'a> {
    format: &'static str,
    left: &'a SideInfo,
    right: &'a SideInfo,
    summary: Summary,
    divergences: Vec<WithRequest<'a, Divergence>>,
    accepted: Vec<WithRequest<'a, Accepted>>,
    stale: &'a [AcceptEntry],
    requests: Vec<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    explain: Vec<Explain<'a>>,
}

#[derive(Serialize)]
struct WithRequest<'a, T> {
    request: &'a str,
    #[serde(flatten)]
    item: &'a T,
}

#[derive(Serialize)]
struct Explain<'a> {
    request: &'a str,
    left: &'a [Touch],
    right: &'a [Touch],
}

pub fn render(c: &Comparison, options: &Options) -> String {
    let report = Report {
        format: FORMAT,
        left: &c.left,
        right: &c.right,
        summary: c.summary(),
        divergences: c
            .pairs
            .iter()
            .flat_map(|p| p.divergences.iter().map(|d| WithRequest { request: &p.id, item: d }))
            .collect(),
        accepted: c
            .pairs
            .iter()
            .flat_map(|p| p.accepted.iter().map(|a| WithRequest { request: &p.id, item: a }))
            .collect(),
        stale: &c.stale,
        requests: c
            .pairs
            .iter()
            .map(|p| {
                json!({
                    "id": p.id,
                    "left": p.left,
                    "right": p.right,
                    "divergences": p.divergences.len(),
                    "accepted": p.accepted.len(),
                    "patch": p.patch.as_ref().map(|patch| serde_json::to_value(patch).expect("a patch serializes")).unwrap_or(json!([])),
                })
            })
            .collect(),
        explain: if options.explain {
            c.pairs
                .iter()
                .map(|p| Explain { request: &p.id, left: &p.explain_left, right: &p.explain_right })
                .collect()
        } else {
            Vec::new()
        },
    };
    let mut text = serde_json::to_string_pretty(&report).expect("a report serializes");
    text.push('\n');
    text
}
