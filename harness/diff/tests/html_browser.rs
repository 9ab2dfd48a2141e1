//! The HTML report, rendered by a real headless browser (Debian's chromium, installed by scripts/install-test-deps.sh).

mod common;

use std::path::Path;
use std::process::Command;

use parity_diff::report::{self, Format, Options};

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium(args: &[&str], profile: &Path) -> std::process::Output {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/install-test-deps.sh (the test command runs it first)"
    );
    Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium runs")
}

#[test]
fn the_html_report_renders_in_a_browser_with_a_fold_per_request() {
    let (comparison, _dir) = common::mixed();
    let out = tempfile::tempdir().unwrap();
    let page = out.path().join("report.html");
    std::fs::write(
        &page,
        report::render(&comparison, Format::Html, &Options { color: false, explain: true, ..Default::default() }),
    )
    .unwrap();
    let url = format!("file://{}", page.display());

    let dom = chromium(&["--dump-dom", &url], &out.path().join("profile-dom"));
    assert!(dom.status.success(), "chromium failed: {}", String::from_utf8_lossy(&dom.stderr));
    let dom = String::from_utf8(dom.stdout).unwrap();
    // One foldable section per request pair, open where something diverges.
    assert_eq!(dom.matches("<details class=\"pair\"").count(), 3, "{dom}");
    assert!(dom.contains("id=\"pair-session-01-0001\" data-divergences=\"0\" data-accepted=\"0\">"));
    assert!(dom.contains("id=\"pair-session-01-0002\" data-divergences=\"1\" data-accepted=\"1\" open=\"\">"));
    assert!(dom.contains("id=\"pair-session-01-0003\" data-divergences=\"1\" data-accepted=\"0\" open=\"\">"));
    // Counts as the summary has them.
    for (id, n) in [("schema", 1), ("relation", 0), ("value", 0), ("prompt", 1), ("accepted", 1), ("stale", 1)] {
        assert!(dom.contains(&format!("id=\"count-{id}\">{n}</span>")), "count-{id} is not {n}");
    }
    // The prompt divergence side by side, changed words marked on each side.
    assert!(dom.contains("<td class=\"text del\">Runs a command in a <mark>PTY, returning output</mark>"));
    assert!(dom.contains("<td class=\"text ins\">Runs a command in a <mark>PTY and returns its output,</mark>"));
    assert!(dom.contains("2 divergences in 2 of 3 request pairs"));
    // Nothing from outside the page: no scripts, no remote resources.
    assert!(!dom.contains("<script") && !dom.contains("http://") && !dom.contains("https://"));

    // A picture, for people: kept under the target directory when it can be found.
    let shot = option_env!("CARGO_TARGET_TMPDIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| out.path().to_path_buf())
        .join("diff-report.png");
    let _ = std::fs::remove_file(&shot);
    let result = chromium(
        &[&format!("--screenshot={}", shot.display()), "--window-size=1400,1700", &url],
        &out.path().join("profile-shot"),
    );
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 20_000, "the screenshot {} is {size} bytes", shot.display());
}

/// `parity timeline`'s page, on a reference recording of upstream steering through its app server: a column of
/// entries in time order, and where the steer landed.
#[test]
fn the_timeline_page_renders_in_a_browser_with_the_steer_s_landing() {
    let recording = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../captures/codex-0.169.0/app-steer-streaming");
    let timeline = parity_timeline::build(&recording).unwrap();
    let out = tempfile::tempdir().unwrap();
    let page = out.path().join("timeline.html");
    std::fs::write(&page, parity_timeline::render_html(std::slice::from_ref(&timeline))).unwrap();
    let url = format!("file://{}", page.display());
    let dom = chromium(&["--dump-dom", &url], &out.path().join("profile-dom"));
    assert!(dom.status.success(), "chromium failed: {}", String::from_utf8_lossy(&dom.stderr));
    let dom = String::from_utf8(dom.stdout).unwrap();
    assert!(dom.contains("landed in <code>session-01/0002</code> at <code>/body/input/5/content/0</code>"), "{dom}");
    for class in
        ["Request", "Event", "HoldReached", "HoldReleased", "ClientClosed", "Action", "FromAgent", "FromClient"]
    {
        assert!(dom.contains(&format!("<tr class=\"{class}\">")), "no {class} row");
    }
    assert!(!dom.contains("<script") && !dom.contains("http://") && !dom.contains("https://"));
    let shot = option_env!("CARGO_TARGET_TMPDIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| out.path().to_path_buf())
        .join("timeline.png");
    let result = chromium(
        &[&format!("--screenshot={}", shot.display()), "--window-size=1200,1400", &url],
        &out.path().join("profile-shot"),
    );
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    assert!(std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0) > 20_000, "{}", shot.display());
}
