//! The HTML report: one self-contained page (no scripts, fonts or images from elsewhere), a `<details>` per request
//! pair, each divergence side by side. Everything from the captures is escaped.

use std::fmt::Write;

use serde_json::Value;

use super::{
    Options, Repeat, Repeats, by_category, capture_href, category_counts, escape_markup, label, plural, same_in,
    verdict, verdict_phrase,
};
use crate::compare::{Comparison, Divergence, Kind, RequestPair};
use crate::normalize::Touch;
use crate::textdiff::{Line, LineTag, TextDiff};

/// Longest JSON value shown whole, in characters.
const VALUE_LIMIT: usize = 4000;

const STYLE: &str = r#"
:root { --bg:#f6f7f9; --card:#fff; --fg:#1d2330; --muted:#667085; --line:#e3e6eb; --code:#f1f3f6;
  --del:#fdecec; --del-strong:#f7b9b9; --ins:#e7f6ec; --ins-strong:#a8e0b9;
  --schema:#7c3aed; --relation:#b45309; --value:#0e7490; --prompt:#1d4ed8; --events:#047857; --protocol:#be123c; --files:#4b5563; --ok:#15803d; --bad:#b42318; }
@media (prefers-color-scheme: dark) { :root { --bg:#111318; --card:#1a1d24; --fg:#e6e8ec; --muted:#9aa3b2; --line:#2c313b;
  --code:#232733; --del:#3a1f22; --del-strong:#6b2b31; --ins:#1b3325; --ins-strong:#245c3a; } }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg); font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif; }
header { padding:24px 32px 16px; background:var(--card); border-bottom:1px solid var(--line); }
h1 { margin:0 0 8px; font-size:22px; letter-spacing:-0.01em; }
h2 { font-size:16px; margin:24px 0 8px; }
code, pre, .mono { font-family:ui-monospace,"SFMono-Regular","DejaVu Sans Mono",Menlo,Consolas,monospace; font-size:12.5px; }
.sides { display:grid; grid-template-columns:auto 1fr; gap:2px 10px; color:var(--muted); }
.sides code { color:var(--fg); word-break:break-all; }
.verdict { margin:14px 0 8px; font-size:17px; font-weight:600; }
.verdict.ok { color:var(--ok); } .verdict.bad { color:var(--bad); }
.counts { display:flex; flex-wrap:wrap; gap:8px; margin:0; padding:0; list-style:none; }
.counts li { border:1px solid var(--line); border-radius:999px; padding:2px 12px; background:var(--bg); }
.counts .n { font-weight:700; margin-right:4px; }
main { padding:16px 32px 40px; max-width:1600px; }
details.pair { background:var(--card); border:1px solid var(--line); border-radius:10px; margin:0 0 12px; overflow:hidden; }
details.pair > summary { cursor:pointer; padding:10px 16px; display:flex; gap:12px; align-items:center; list-style:none; }
details.pair > summary::-webkit-details-marker { display:none; }
details.pair > summary::before { content:"▸"; color:var(--muted); width:10px; }
details.pair[open] > summary::before { content:"▾"; }
details.pair[open] > summary { border-bottom:1px solid var(--line); }
.pair-id { font-weight:650; } .label { color:var(--muted); }
.badge { margin-left:auto; border-radius:999px; padding:1px 10px; font-size:12px; font-weight:600; }
.badge.bad { background:var(--del); color:var(--bad); } .badge.ok { background:var(--ins); color:var(--ok); }
.files { display:flex; gap:24px; padding:8px 16px 0; color:var(--muted); font-size:12px; }
.divergence { margin:12px 16px 16px; border:1px solid var(--line); border-radius:8px; overflow:hidden; }
.dhead { display:flex; flex-wrap:wrap; gap:10px; align-items:baseline; padding:8px 12px; background:var(--bg); border-bottom:1px solid var(--line); }
.cat { font-weight:700; text-transform:uppercase; font-size:11px; letter-spacing:.06em; color:#fff; border-radius:4px; padding:1px 7px; }
.cat-schema { background:var(--schema); } .cat-relation { background:var(--relation); } .cat-value { background:var(--value); } .cat-prompt { background:var(--prompt); } .cat-events { background:var(--events); } .cat-protocol { background:var(--protocol); } .cat-files { background:var(--files); } .cat-accepted { background:var(--muted); }
.path { word-break:break-all; } .kind { color:var(--muted); }
.note { padding:6px 12px; color:var(--muted); border-bottom:1px solid var(--line); }
table.sbs { width:100%; border-collapse:collapse; table-layout:fixed; }
table.sbs th { text-align:left; font-weight:600; color:var(--muted); padding:4px 8px; border-bottom:1px solid var(--line); font-size:12px; }
table.sbs td { vertical-align:top; padding:1px 8px; white-space:pre-wrap; word-break:break-word; }
table.sbs td.ln { width:48px; text-align:right; color:var(--muted); user-select:none; border-right:1px solid var(--line); }
table.sbs col.ln { width:48px; }
table.sbs td.text + td.ln { border-left:1px solid var(--line); }
tr.hunk td { background:var(--code); color:var(--muted); padding:3px 8px; }
td.del { background:var(--del); } td.ins { background:var(--ins); }
td.del mark { background:var(--del-strong); color:inherit; border-radius:2px; }
td.ins mark { background:var(--ins-strong); color:inherit; border-radius:2px; }
.values { display:grid; grid-template-columns:1fr 1fr; }
.values > div { min-width:0; } .values > div + div { border-left:1px solid var(--line); }
.values h3 { margin:0; padding:4px 12px; font-size:12px; color:var(--muted); border-bottom:1px solid var(--line); }
.values pre { margin:0; padding:8px 12px; white-space:pre-wrap; word-break:break-word; max-height:420px; overflow:auto; }
.values .absent { color:var(--muted); font-style:italic; }
.values .l pre.present { background:var(--del); } .values .r pre.present { background:var(--ins); }
.reason { padding:8px 12px; }
details.sub { margin:8px 16px 16px; } details.sub > summary { cursor:pointer; color:var(--muted); }
table.explain { border-collapse:collapse; width:100%; margin-top:6px; font-size:12px; }
table.explain td, table.explain th { border-bottom:1px solid var(--line); padding:2px 6px; text-align:left; vertical-align:top; word-break:break-word; }
.empty { padding:10px 16px; color:var(--muted); }
footer { padding:0 32px 32px; color:var(--muted); font-size:12px; max-width:1100px; }
"#;

pub fn render(c: &Comparison, options: &Options) -> String {
    let s = c.summary();
    let repeats = Repeats::of(c);
    let mut out = String::with_capacity(64 * 1024);
    let title = format!("parity diff: {}", verdict(s.divergences).to_lowercase());
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape_markup(&title)
    );
    let _ = writeln!(out, "<header>\n<h1>parity diff</h1>\n<div class=\"sides\">");
    for (side, info) in [("left", &c.left), ("right", &c.right)] {
        let _ = writeln!(
            out,
            "<span>{side}</span><span><code>{}</code> · {}</span>",
            escape_markup(&info.root),
            plural(info.requests, "request", "requests")
        );
    }
    let _ = writeln!(out, "</div>");
    let class = if s.divergences == 0 { "ok" } else { "bad" };
    let _ = writeln!(out, "<div class=\"verdict {class}\" id=\"verdict\">{}</div>", verdict_phrase(&s));
    let _ = writeln!(out, "<ul class=\"counts\">");
    for cat in super::counted_categories(&s) {
        let _ = writeln!(out, "<li><span class=\"n\" id=\"count-{cat}\">{}</span>{cat}</li>", s.count(cat));
    }
    let _ = writeln!(
        out,
        "<li><span class=\"n\" id=\"count-accepted\">{}</span>accepted</li>\n<li><span class=\"n\" id=\"count-stale\">{}</span>stale</li>\n</ul>\n</header>\n<main>",
        s.accepted, s.stale
    );
    for pair in &c.pairs {
        render_pair(&mut out, pair, options, &repeats);
    }
    if !c.stale.is_empty() {
        let _ = writeln!(out, "<h2>Accepted divergences that no longer occur</h2>\n<ul id=\"stale\">");
        for e in &c.stale {
            let _ = writeln!(
                out,
                "<li>line {}: {} <code>{}</code>{} — {}</li>",
                e.line,
                e.category,
                escape_markup(&e.path),
                e.request.as_deref().map(|r| format!(" in <code>{}</code>", escape_markup(r))).unwrap_or_default(),
                escape_markup(&e.reason)
            );
        }
        let _ = writeln!(out, "</ul>");
    }
    let _ = writeln!(
        out,
        "</main>\n<footer>Values are normalized: <code>&lt;kind#n&gt;</code> placeholders stand for volatile values \
         (ids, paths, times), numbered per recording by first appearance; a right-hand placeholder carries the \
         number of its left-hand counterpart, so equal placeholders are the same value. Paths are JSON pointers \
         into the normalized request: <code>/headers/…</code> or <code>/body/…</code>{}.</footer>\n</body>\n</html>",
        if c.pairs.iter().any(|p| p.events) {
            ", or into an event stream's document: <code>/events/…</code> (<code>exec --json</code>), \
             <code>/messages/…</code>, <code>/responses/…</code>, <code>/ambient/…</code> (app-server)"
        } else {
            ""
        }
    );
    out
}

fn render_pair(out: &mut String, pair: &RequestPair, options: &Options, repeats: &Repeats) {
    let n = pair.divergences.len();
    let anchor = pair.id.replace('/', "-");
    let (class, badge) = if n == 0 {
        ("ok", "no divergence".to_string())
    } else {
        ("bad", format!("{} · {}", plural(n, "divergence", "divergences"), category_counts(&pair.divergences)))
    };
    let _ = writeln!(
        out,
        "<details class=\"pair\" id=\"pair-{}\" data-divergences=\"{n}\" data-accepted=\"{}\"{}>",
        escape_markup(&anchor),
        pair.accepted.len(),
        if n > 0 { " open" } else { "" }
    );
    let _ = writeln!(
        out,
        "<summary><span class=\"pair-id\">{}</span><span class=\"label mono\">{}</span><span class=\"badge {class}\">{}</span></summary>",
        escape_markup(&pair.id),
        escape_markup(&label(pair)),
        escape_markup(&badge)
    );
    let _ = writeln!(out, "<div class=\"files\">");
    for (side, info) in [("left", &pair.left), ("right", &pair.right)] {
        let Some(info) = info else {
            let _ = writeln!(out, "<span>{side}: <code>(no request)</code></span>");
            continue;
        };
        let file = escape_markup(&info.file);
        match capture_href(&info.path, options.links_from.as_deref()).filter(|_| !info.path.as_os_str().is_empty()) {
            Some(href) => {
                let _ =
                    writeln!(out, "<span>{side}: <a href=\"{}\"><code>{file}</code></a></span>", escape_markup(&href));
            }
            None => {
                let _ = writeln!(out, "<span>{side}: <code>{file}</code></span>");
            }
        }
    }
    let _ = writeln!(out, "</div>");
    if n == 0 && pair.accepted.is_empty() {
        let _ = writeln!(out, "<div class=\"empty\">Both sides send the same request, once normalized.</div>");
    }
    for d in by_category(pair) {
        render_divergence(out, d, None, repeats.of_divergence(pair, d));
    }
    if !pair.accepted.is_empty() {
        let _ = writeln!(
            out,
            "<details class=\"sub accepted\"><summary>{}</summary>",
            plural(pair.accepted.len(), "accepted divergence", "accepted divergences")
        );
        for a in &pair.accepted {
            render_divergence(out, &a.divergence, Some(&a.reason), Repeat::Once);
        }
        let _ = writeln!(out, "</details>");
    }
    if options.explain {
        for (side, touches) in [("left", &pair.explain_left), ("right", &pair.explain_right)] {
            render_explain(out, side, touches);
        }
    }
    let _ = writeln!(out, "</details>");
}

fn render_divergence(out: &mut String, d: &Divergence, accepted: Option<&str>, repeat: Repeat) {
    let (cat_class, cat_label) = match accepted {
        Some(_) => ("accepted".to_string(), format!("accepted {}", d.category)),
        None => (d.category.to_string(), d.category.to_string()),
    };
    let _ = writeln!(
        out,
        "<article class=\"divergence\" data-category=\"{}\" data-kind=\"{}\">",
        d.category,
        serde_json::to_value(d.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
    );
    let _ = write!(
        out,
        "<div class=\"dhead\"><span class=\"cat cat-{cat_class}\">{}</span><code class=\"path\">{}</code>",
        escape_markup(&cat_label),
        escape_markup(if d.path.is_empty() { "(whole request)" } else { &d.path })
    );
    if let Some(right) = &d.right_path {
        let _ = write!(out, "<span class=\"kind\">→</span><code class=\"path\">{}</code>", escape_markup(right));
    }
    let _ = writeln!(out, "<span class=\"kind\">{}</span></div>", escape_markup(d.kind.describe()));
    if let Some(reason) = accepted {
        let _ = writeln!(out, "<div class=\"reason\">Reason: {}</div></article>", escape_markup(reason));
        return;
    }
    match repeat {
        Repeat::Once => {}
        Repeat::First(ids) => {
            let _ = writeln!(out, "<div class=\"note repeat\">{}</div>", escape_markup(&same_in(ids)));
        }
        Repeat::Again(first) => {
            let _ = writeln!(
                out,
                "<div class=\"note repeat\">The same as in <a href=\"#pair-{}\">{}</a>.</div></article>",
                escape_markup(&first.replace('/', "-")),
                escape_markup(first)
            );
            return;
        }
    }
    if let Some(note) = &d.note {
        let _ = writeln!(out, "<div class=\"note\">{}</div>", escape_markup(note));
    }
    match &d.text_diff {
        Some(diff) => render_text_diff(out, diff),
        None if d.kind == Kind::Moved && d.left.as_ref().is_some_and(|v| v.is_string()) => {}
        None => render_values(out, d.left.as_ref(), d.right.as_ref()),
    }
    let _ = writeln!(out, "</article>");
}

fn render_values(out: &mut String, left: Option<&Value>, right: Option<&Value>) {
    let _ = writeln!(out, "<div class=\"values\">");
    for (side, class, value) in [("left", "l", left), ("right", "r", right)] {
        let _ = write!(out, "<div class=\"{class}\"><h3>{side}</h3>");
        match value {
            None => {
                let _ = write!(out, "<pre class=\"absent\">(absent)</pre>");
            }
            Some(v) => {
                let text = serde_json::to_string_pretty(v).expect("JSON serializes");
                let shown = if text.chars().count() > VALUE_LIMIT {
                    let head: String = text.chars().take(VALUE_LIMIT).collect();
                    format!("{head}\n… ({} more characters)", text.chars().count() - VALUE_LIMIT)
                } else {
                    text
                };
                let _ = write!(out, "<pre class=\"present\">{}</pre>", escape_markup(&shown));
            }
        }
        let _ = writeln!(out, "</div>");
    }
    let _ = writeln!(out, "</div>");
}

fn render_text_diff(out: &mut String, diff: &TextDiff) {
    let _ = writeln!(
        out,
        "<table class=\"sbs\"><colgroup><col class=\"ln\"><col><col class=\"ln\"><col></colgroup>\n<thead><tr><th colspan=\"2\">left</th><th colspan=\"2\">right</th></tr></thead>\n<tbody>"
    );
    for hunk in &diff.hunks {
        let _ = writeln!(
            out,
            "<tr class=\"hunk\"><td colspan=\"4\">left line {}, right line {}</td></tr>",
            hunk.left_line, hunk.right_line
        );
        let (mut ln, mut rn) = (hunk.left_line, hunk.right_line);
        let mut lefts: Vec<&Line> = Vec::new();
        let mut rights: Vec<&Line> = Vec::new();
        for line in &hunk.lines {
            match line.tag {
                LineTag::Left => lefts.push(line),
                LineTag::Right => rights.push(line),
                LineTag::Equal => {
                    flush(out, &mut lefts, &mut rights, &mut ln, &mut rn);
                    let _ = write!(out, "<tr>");
                    cell(out, Some(line), "", &mut ln);
                    cell(out, Some(line), "", &mut rn);
                    let _ = writeln!(out, "</tr>");
                }
            }
        }
        flush(out, &mut lefts, &mut rights, &mut ln, &mut rn);
    }
    let _ = writeln!(out, "</tbody></table>");
}

/// Writes rows pairing the pending left-only and right-only lines.
fn flush(out: &mut String, lefts: &mut Vec<&Line>, rights: &mut Vec<&Line>, ln: &mut usize, rn: &mut usize) {
    for i in 0..lefts.len().max(rights.len()) {
        let _ = write!(out, "<tr>");
        cell(out, lefts.get(i).copied(), "del", ln);
        cell(out, rights.get(i).copied(), "ins", rn);
        let _ = writeln!(out, "</tr>");
    }
    lefts.clear();
    rights.clear();
}

fn cell(out: &mut String, line: Option<&Line>, class: &str, number: &mut usize) {
    match line {
        None => {
            let _ = write!(out, "<td class=\"ln\"></td><td class=\"text\"></td>");
        }
        Some(line) => {
            let _ = write!(out, "<td class=\"ln\">{number}</td><td class=\"text {class}\">");
            *number += 1;
            for part in &line.parts {
                if part.changed {
                    let _ = write!(out, "<mark>{}</mark>", escape_markup(&part.text));
                } else {
                    out.push_str(&escape_markup(&part.text));
                }
            }
            let _ = write!(out, "</td>");
        }
    }
}

fn render_explain(out: &mut String, side: &str, touches: &[Touch]) {
    if touches.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<details class=\"sub explain\"><summary>Rules applied on the {side} ({})</summary>\n<table class=\"explain\"><tr><th>rule</th><th>path</th><th>before</th><th>after</th></tr>",
        touches.len()
    );
    for t in touches {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td></tr>",
            escape_markup(&t.rule),
            escape_markup(&t.path),
            escape_markup(&t.before),
            escape_markup(&t.after)
        );
    }
    let _ = writeln!(out, "</table></details>");
}
