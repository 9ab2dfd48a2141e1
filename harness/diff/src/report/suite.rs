//! Reports of a whole suite (`parity check`, `parity diff` of two suite directories): every scenario's verdict,
//! then each diverging scenario's own report.

use std::fmt::Write;

use serde_json::{Value, json};

use super::{Format, Options, escape_markup, plural, render};
use crate::compare::Category;
use crate::suite::{ScenarioResult, SuiteComparison};

/// Names the JSON layout of a suite report.
pub const SUITE_FORMAT: &str = "parity.suite/v1";

/// Renders a suite. HTML is an index page: `link` gives the address of a scenario's own report, when there is one.
pub fn render_suite(
    suite: &SuiteComparison,
    format: Format,
    options: &Options,
    link: &dyn Fn(&str) -> Option<String>,
) -> String {
    match format {
        Format::Text => text(suite, options),
        Format::Json => serde_json::to_string_pretty(&json_value(suite, options)).expect("JSON serializes") + "\n",
        Format::Markdown => markdown(suite, options),
        Format::Junit => junit(suite),
        Format::Html => html_index(suite, link),
    }
}

/// `clean`, `clean (2 accepted)`, `3 schema, 1 prompt`, `error: ...`.
pub fn scenario_verdict(result: &ScenarioResult) -> String {
    match &result.outcome {
        Err(e) => format!("error: {e}"),
        Ok(c) => {
            let s = c.summary();
            let accepted = if s.accepted > 0 { format!(" ({} accepted)", s.accepted) } else { String::new() };
            if s.divergences == 0 {
                format!("clean{accepted}")
            } else {
                let counts: Vec<String> =
                    Category::ALL.iter().filter(|c| s.count(**c) > 0).map(|c| format!("{} {c}", s.count(*c))).collect();
                format!("{}{accepted}", counts.join(", "))
            }
        }
    }
}

/// `23 of 25 scenarios clean; 4 divergence(s) (...); 1 accepted`.
pub fn suite_totals(suite: &SuiteComparison) -> String {
    let s = suite.summary();
    let counts: Vec<String> = super::counted_categories(&s).iter().map(|c| format!("{} {c}", s.count(*c))).collect();
    let errors = suite.errors();
    let errors = if errors > 0 {
        format!("; {} could not be compared", plural(errors, "scenario", "scenarios"))
    } else {
        String::new()
    };
    format!(
        "{} of {} scenarios clean; {} divergence(s) ({}); {} accepted{errors}",
        suite.clean_scenarios(),
        suite.scenarios.len(),
        s.divergences,
        counts.join(", "),
        s.accepted
    )
}

fn text(suite: &SuiteComparison, options: &Options) -> String {
    let mut out = format!("left:  {}\nright: {}\n", suite.left, suite.right);
    for scenario in &suite.scenarios {
        let _ = writeln!(out, "\n== {}: {}", scenario.name, scenario_verdict(scenario));
        if let Ok(c) = &scenario.outcome
            && !c.is_clean()
        {
            out.push_str(&render(c, Format::Text, options));
        }
    }
    let _ = writeln!(out, "\n{}", suite_totals(suite));
    for e in &suite.stale {
        let _ = writeln!(out, "stale: accept entry at line {} ({} {}) matched nothing", e.line, e.category, e.path);
    }
    out
}

fn json_value(suite: &SuiteComparison, options: &Options) -> Value {
    let scenarios: Vec<Value> = suite
        .scenarios
        .iter()
        .map(|s| {
            let mut entry = json!({"name": s.name, "verdict": scenario_verdict(s), "clean": s.is_clean()});
            match &s.outcome {
                Ok(c) => {
                    entry["report"] = serde_json::from_str(&render(c, Format::Json, options)).unwrap_or(Value::Null)
                }
                Err(e) => entry["error"] = json!(e),
            }
            if let Some(note) = &s.note {
                entry["note"] = json!(note);
            }
            entry
        })
        .collect();
    json!({
        "format": SUITE_FORMAT,
        "left": suite.left,
        "right": suite.right,
        "summary": suite.summary(),
        "totals": suite_totals(suite),
        "clean_scenarios": suite.clean_scenarios(),
        "errors": suite.errors(),
        "scenarios": scenarios,
        "stale": suite.stale,
    })
}

fn markdown(suite: &SuiteComparison, options: &Options) -> String {
    let mut out = String::from("# parity check\n\n");
    let _ = writeln!(out, "- **baseline:** `{}`\n- **compared:** `{}`\n", suite.left, suite.right);
    let _ = writeln!(out, "**{}**\n", suite_totals(suite));
    let _ = writeln!(out, "| scenario | verdict |\n|---|---|");
    for s in &suite.scenarios {
        let note = s.note.as_ref().map(|n| format!(" — {n}")).unwrap_or_default();
        let _ = writeln!(out, "| {} | {}{note} |", s.name, scenario_verdict(s).replace('|', "\\|"));
    }
    for s in &suite.scenarios {
        if let Ok(c) = &s.outcome
            && !c.is_clean()
        {
            // The scenario's own report, its headings one level down.
            let body = render(c, Format::Markdown, options);
            let body = body.replacen("# parity diff", &format!("## {}", s.name), 1).replace("\n## ", "\n### ");
            let _ = write!(out, "\n{body}");
        }
    }
    for e in &suite.stale {
        let _ = writeln!(out, "\n- stale accept entry, line {}: {} `{}` ({})", e.line, e.category, e.path, e.reason);
    }
    out
}

fn junit(suite: &SuiteComparison) -> String {
    let tests: usize = suite.scenarios.iter().map(|s| s.outcome.as_ref().map(|c| c.pairs.len()).unwrap_or(1)).sum();
    let failures: usize =
        suite.scenarios.iter().filter_map(|s| s.outcome.as_ref().ok()).map(super::junit::failures).sum();
    let errors = suite.errors();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(out, "<testsuites name=\"parity\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">");
    for s in &suite.scenarios {
        let class = format!("parity.{}", s.name);
        match &s.outcome {
            Ok(c) => super::junit::testsuite(&mut out, &s.name, &class, c),
            Err(e) => {
                let _ = writeln!(
                    out,
                    "  <testsuite name=\"{0}\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\">\n    <testcase classname=\"{1}\" name=\"{0}\">\n      <error message=\"{2}\"/>\n    </testcase>\n  </testsuite>",
                    escape_markup(&s.name),
                    escape_markup(&class),
                    escape_markup(e)
                );
            }
        }
    }
    let _ = writeln!(out, "</testsuites>");
    out
}

fn html_index(suite: &SuiteComparison, link: &dyn Fn(&str) -> Option<String>) -> String {
    let mut rows = String::new();
    for s in &suite.scenarios {
        let class = if s.is_clean() { "ok" } else { "bad" };
        let name = match link(&s.name) {
            Some(href) => format!("<a href=\"{}\">{}</a>", escape_markup(&href), escape_markup(&s.name)),
            None => escape_markup(&s.name),
        };
        let (pairs, diverging) = match &s.outcome {
            Ok(c) => (c.pairs.len().to_string(), super::junit::failures(c).to_string()),
            Err(_) => ("".into(), "".into()),
        };
        let note = s.note.as_deref().map(escape_markup).unwrap_or_default();
        let _ = writeln!(
            rows,
            "<tr class=\"{class}\"><td>{name}</td><td class=\"v\">{}</td><td class=\"n\">{pairs}</td><td class=\"n\">{diverging}</td><td>{note}</td></tr>",
            escape_markup(&scenario_verdict(s))
        );
    }
    let stale: String = suite
        .stale
        .iter()
        .map(|e| {
            format!(
                "<li>line {}: {} <code>{}</code> — {}</li>",
                e.line,
                e.category,
                escape_markup(&e.path),
                escape_markup(&e.reason)
            )
        })
        .collect();
    let stale = if stale.is_empty() { String::new() } else { format!("<h2>Stale accept entries</h2><ul>{stale}</ul>") };
    let verdict_class = if suite.is_clean() { "ok" } else { "bad" };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
<title>parity check: {title}</title><style>{STYLE}</style></head><body>\
<header><h1>parity check</h1><div class=\"sides\"><span>baseline</span><code>{left}</code><span>compared</span><code>{right}</code></div>\
<div class=\"verdict {verdict_class}\" id=\"verdict\">{totals}</div></header><main>\
<table><thead><tr><th>scenario</th><th>verdict</th><th>request pairs</th><th>diverging</th><th>note</th></tr></thead><tbody>\n{rows}</tbody></table>{stale}</main></body></html>\n",
        title = escape_markup(&suite_totals(suite)),
        left = escape_markup(&suite.left),
        right = escape_markup(&suite.right),
        totals = escape_markup(&suite_totals(suite)),
    )
}

const STYLE: &str = "body{margin:0;font:14px/1.45 system-ui,'DejaVu Sans',sans-serif;background:#f6f7f9;color:#1d2330}\
header{padding:24px 32px;background:#fff;border-bottom:1px solid #e3e6eb}h1{margin:0 0 8px;font-size:22px}\
.sides{display:grid;grid-template-columns:auto 1fr;gap:2px 10px;color:#667085}.sides code{color:#1d2330}\
.verdict{margin-top:12px;font-size:17px;font-weight:600}.verdict.ok{color:#15803d}.verdict.bad{color:#b42318}\
main{padding:16px 32px}table{border-collapse:collapse;background:#fff;border:1px solid #e3e6eb;border-radius:8px}\
th,td{padding:6px 14px;border-bottom:1px solid #e3e6eb;text-align:left}td.n{text-align:right}\
tr.ok td.v{color:#15803d}tr.bad td.v{color:#b42318;font-weight:600}a{color:#1d4ed8}";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{capture, recording};
    use serde_json::json;

    fn suite() -> SuiteComparison {
        let left = recording(vec![capture(1, 1, &[], json!({"a": 1})), capture(1, 2, &[], json!({"a": 2}))]);
        let right = recording(vec![capture(1, 1, &[], json!({"a": 1})), capture(1, 2, &[], json!({"a": 3}))]);
        let rules = crate::RuleSet::builtin();
        let compare = |l, r| crate::diff_recordings(l, r, &rules, Default::default());
        SuiteComparison {
            left: "base".into(),
            right: "new".into(),
            scenarios: vec![
                ScenarioResult { name: "same".into(), outcome: Ok(compare(&left, &left)), note: None },
                ScenarioResult { name: "edit".into(), outcome: Ok(compare(&left, &right)), note: None },
                ScenarioResult { name: "gone".into(), outcome: Err("no baseline".into()), note: None },
            ],
            stale: Vec::new(),
        }
    }

    #[test]
    fn junit_has_a_testsuite_per_scenario_and_classnames_that_name_it() {
        let xml = render_suite(&suite(), Format::Junit, &Options::default(), &|_| None);
        assert!(xml.contains("<testsuites name=\"parity\" tests=\"5\" failures=\"1\" errors=\"1\">"), "{xml}");
        assert_eq!(xml.matches("<testsuite ").count(), 3);
        assert!(xml.contains("<testcase classname=\"parity.edit.session-01\" name=\"session-01/0002"), "{xml}");
        assert!(xml.contains("<error message=\"no baseline\"/>"), "{xml}");
    }

    #[test]
    fn every_format_names_each_scenario_and_its_verdict() {
        let s = suite();
        for format in [Format::Text, Format::Markdown, Format::Html, Format::Json] {
            let report = render_suite(&s, format, &Options::default(), &|name| Some(format!("{name}.html")));
            for needle in ["same", "edit", "gone", "1 of 3 scenarios clean"] {
                assert!(report.contains(needle), "{format:?} lacks {needle}: {report}");
            }
        }
        let json: Value =
            serde_json::from_str(&render_suite(&s, Format::Json, &Options::default(), &|_| None)).unwrap();
        assert_eq!(json["scenarios"][1]["report"]["summary"]["divergences"], 1);
        assert_eq!(json["errors"], 1);
        let html = render_suite(&s, Format::Html, &Options::default(), &|name| Some(format!("{name}.html")));
        assert!(html.contains("<a href=\"edit.html\">edit</a>"), "{html}");
    }
}
