//! Fixture recordings (fixtures/diff) and the comparisons the report tests share.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use parity_capture::Recording;
use parity_diff::{AcceptList, Comparison, NormalizeOptions, RuleSet, diff_recordings};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/diff").canonicalize().expect("fixtures/diff exists")
}

pub fn load(path: &Path) -> Recording {
    Recording::load(path).unwrap_or_else(|e| panic!("{e}"))
}

pub fn compare(left: &Path, right: &Path) -> Comparison {
    diff_recordings(&load(left), &load(right), &RuleSet::builtin(), NormalizeOptions::default())
}

/// Replaces machine-specific directories in a report, so that snapshots are the same everywhere.
pub fn redact(text: &str, dirs: &[(&Path, &str)]) -> String {
    let mut out = text.to_string();
    for (dir, name) in dirs {
        out = out.replace(&dir.display().to_string(), name);
    }
    out
}

/// A right-hand recording with three kinds of trouble against upstream-a's first session: request 1 equal,
/// request 2 with a changed tool description (fixtures/diff/variants/tool-description.json), request 3 missing.
/// Returns the comparison with an accept file applied (one entry used, one stale), and the temporary directory.
pub fn mixed() -> (Comparison, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("session-01");
    std::fs::create_dir_all(&session).unwrap();
    let f = fixtures();
    std::fs::copy(f.join("upstream-b/session-01/0001-post-responses.json"), session.join("0001-post-responses.json"))
        .unwrap();
    let mut variant: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f.join("variants/tool-description.json")).unwrap()).unwrap();
    // Also drop a header, to have a schema divergence next to the prompt one.
    variant["request"]["headers"].as_array_mut().unwrap().retain(|h| h[0] != "x-codex-beta-features");
    std::fs::write(session.join("0002-post-responses.json"), variant.to_string()).unwrap();
    let mut comparison = compare(&f.join("upstream-a/session-01"), dir.path());
    let accept = AcceptList::from_toml(
        r#"
[[accept]]
category = "schema"
path = "/headers/x-codex-beta-features"
request = "session-01/0002"
reason = "beta features are configured per install"

[[accept]]
category = "value"
path = "/body/model"
reason = "we used to send another model"
"#,
        Path::new("accept.toml"),
    )
    .unwrap();
    accept.apply(&mut comparison);
    (comparison, dir)
}
