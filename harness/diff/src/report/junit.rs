//! The JUnit XML report: one test case per request pair, failing when the pair diverges.

use std::fmt::Write;

use super::{Options, category_counts, escape_markup, label, plural};
use crate::compare::Comparison;

pub fn render(c: &Comparison) -> String {
    let failures = c.pairs.iter().filter(|p| !p.divergences.is_empty()).count();
    let tests = c.pairs.len();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(out, "<testsuites name=\"parity diff\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\">");
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">",
        escape_markup(&format!("{} vs {}", c.left.root, c.right.root))
    );
    for pair in &c.pairs {
        let session = parity_capture::store::session_dir_name(pair.session);
        let _ = write!(
            out,
            "    <testcase classname=\"parity.diff.{}\" name=\"{}\"",
            escape_markup(&session),
            escape_markup(&format!("{} {}", pair.id, label(pair)))
        );
        if pair.divergences.is_empty() && pair.accepted.is_empty() {
            let _ = writeln!(out, "/>");
            continue;
        }
        let _ = writeln!(out, ">");
        if !pair.divergences.is_empty() {
            // The body is the text report of this pair alone.
            let mut one = c.clone();
            one.pairs = vec![pair.clone()];
            one.stale.clear();
            let body = super::text::render(&one, &Options::default());
            let _ = writeln!(
                out,
                "      <failure type=\"divergence\" message=\"{}\">{}</failure>",
                escape_markup(&format!(
                    "{} ({})",
                    plural(pair.divergences.len(), "divergence", "divergences"),
                    category_counts(&pair.divergences)
                )),
                escape_markup(&body)
            );
        }
        if !pair.accepted.is_empty() {
            let lines: Vec<String> = pair
                .accepted
                .iter()
                .map(|a| {
                    format!(
                        "accepted {} {} {}: {}",
                        a.divergence.category,
                        a.divergence.path,
                        a.divergence.kind.describe(),
                        a.reason
                    )
                })
                .collect();
            let _ = writeln!(out, "      <system-out>{}</system-out>", escape_markup(&lines.join("\n")));
        }
        let _ = writeln!(out, "    </testcase>");
    }
    if !c.stale.is_empty() {
        let lines: Vec<String> = c
            .stale
            .iter()
            .map(|e| format!("stale accept entry, line {}: {} {} ({})", e.line, e.category, e.path, e.reason))
            .collect();
        let _ = writeln!(out, "    <system-err>{}</system-err>", escape_markup(&lines.join("\n")));
    }
    let _ = writeln!(out, "  </testsuite>");
    let _ = writeln!(out, "</testsuites>");
    out
}
