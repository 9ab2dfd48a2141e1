//! The diff engine on real upstream Codex 0.169.0 captures (fixtures/diff, see its README).

mod common;

use common::{compare, fixtures, mixed, redact};
use parity_diff::report::{self, Format, Options};
use parity_diff::{Category, Kind};

fn text(c: &parity_diff::Comparison) -> String {
    report::render(c, Format::Text, &Options::default())
}

#[test]
fn two_recordings_of_the_same_sessions_are_identical_once_normalized() {
    let f = fixtures();
    let c = compare(&f.join("upstream-a"), &f.join("upstream-b"));
    assert_eq!(c.pairs.len(), 6);
    assert!(c.is_clean(), "{}", text(&c));
    // Both sides' machine paths were found in the captures themselves, and they differ.
    let kinds = |side: &parity_diff::SideInfo| side.paths.iter().map(|p| p.kind.clone()).collect::<Vec<_>>();
    assert_eq!(kinds(&c.left), ["codex_home", "home", "cwd"]);
    assert_eq!(kinds(&c.right), ["codex_home", "cwd"]);
    assert_ne!(c.left.paths[2].path, c.right.paths[1].path);
    insta::assert_snapshot!("identical", redact(&text(&c), &[(&f, "[fixtures]")]));
}

#[test]
fn each_derived_variant_reports_its_one_divergence_in_its_category_at_its_path() {
    let f = fixtures();
    let left = f.join("upstream-a/session-01/0002-post-responses.json");
    let cases = [
        ("tool-description", Category::Prompt, Kind::Changed, "/body/tools/0/description"),
        ("dropped-header", Category::Schema, Kind::OnlyLeft, "/headers/x-codex-window-id"),
        ("extra-body-key", Category::Schema, Kind::OnlyRight, "/body/service_tier"),
        ("reordered-input", Category::Schema, Kind::Moved, "/body/input/3"),
        ("broken-relation", Category::Relation, Kind::RelationBroken, "/headers/x-client-request-id"),
        ("instructions-edit", Category::Prompt, Kind::Changed, "/body/input/0/content/0/text"),
    ];
    for (name, category, kind, path) in cases {
        let right = f.join(format!("variants/{name}.json"));
        let c = compare(&left, &right);
        let found: Vec<(Category, Kind, &str)> =
            c.divergences().map(|(_, d)| (d.category, d.kind, d.path.as_str())).collect();
        assert_eq!(found, [(category, kind, path)], "{name}:\n{}", text(&c));
        insta::assert_snapshot!(format!("variant-{name}"), redact(&text(&c), &[(&f, "[fixtures]")]));
    }
}

#[test]
fn prompt_divergences_show_a_word_marked_line_diff_not_the_whole_text() {
    let f = fixtures();
    let c =
        compare(&f.join("upstream-a/session-01/0002-post-responses.json"), &f.join("variants/instructions-edit.json"));
    let report = text(&c);
    assert!(report.contains("[-`rg --files`;-]") && report.contains("{+`fd`;+}"), "{report}");
    assert!(report.len() < 3_000, "the 21 KB instructions are not printed whole: {} bytes", report.len());
}

#[test]
fn every_report_format_on_a_mixed_comparison() {
    let f = fixtures();
    let (c, dir) = mixed();
    let s = c.summary();
    assert_eq!((s.pairs, s.divergent_pairs, s.divergences, s.accepted, s.stale), (3, 2, 2, 1, 1));
    let dirs = [(dir.path(), "[right]"), (f.as_path(), "[fixtures]")];
    for (name, format) in [
        ("text", Format::Text),
        ("json", Format::Json),
        ("markdown", Format::Markdown),
        ("junit", Format::Junit),
        ("html", Format::Html),
    ] {
        let rendered = report::render(&c, format, &Options::default());
        insta::assert_snapshot!(format!("mixed-{name}"), redact(&rendered, &dirs));
    }
    let json: serde_json::Value = serde_json::from_str(&report::render(&c, Format::Json, &Options::default())).unwrap();
    assert_eq!(json["summary"]["divergences"], 2);
    assert_eq!(json["divergences"][0]["category"], "prompt");
    assert_eq!(json["divergences"][0]["path"], "/body/tools/0/description");
    assert!(json["divergences"][0]["left"].is_string() && json["divergences"][0]["right"].is_string());
    let patch = json["requests"][1]["patch"].as_array().unwrap();
    assert!(patch.iter().any(|op| op["op"] == "replace" && op["path"] == "/body/tools/0/description"), "{patch:?}");
    assert!(patch.iter().any(|op| op["op"] == "remove" && op["path"] == "/headers/x-codex-beta-features"));
    assert_eq!(json["stale"][0]["path"], "/body/model");
}
