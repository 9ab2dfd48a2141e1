//! Normalize-and-diff speed on real upstream Codex captures (fixtures/diff).
//!
//! `cargo bench -p parity-diff`:
//! - `pair_40kb`: two single-request recordings of ~40 KB request bodies, normalized and compared;
//! - `recording_1000_pairs`: two recordings of 1,000 requests each (the fixture sessions repeated), likewise.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use parity_capture::{RecordedExchange, RecordedSession, Recording};
use parity_diff::{NormalizeOptions, RuleSet, diff_recordings};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/diff")
}

fn load(rel: &str) -> Recording {
    Recording::load(&fixtures().join(rel)).expect("fixture loads")
}

/// `n` requests: the recording's sessions repeated as new sessions, in order.
fn repeated(source: &Recording, n: usize) -> Recording {
    let mut sessions: Vec<RecordedSession> = Vec::new();
    let mut count = 0;
    'outer: loop {
        for session in &source.sessions {
            let index = sessions.len() as u32 + 1;
            let mut exchanges: Vec<RecordedExchange> = Vec::new();
            for exchange in &session.exchanges {
                if count == n {
                    if !exchanges.is_empty() {
                        sessions.push(RecordedSession { index, key: String::new(), exchanges });
                    }
                    break 'outer;
                }
                let mut e = exchange.clone();
                e.capture.session.index = index;
                exchanges.push(e);
                count += 1;
            }
            sessions.push(RecordedSession { index, key: String::new(), exchanges });
        }
    }
    Recording { root: source.root.clone(), sessions }
}

fn benches(c: &mut Criterion) {
    let rules = RuleSet::builtin();
    let options = NormalizeOptions::default();

    let left = load("upstream-a/session-01/0002-post-responses.json");
    let right = load("upstream-b/session-01/0002-post-responses.json");
    let size = serde_json::to_vec(&left.sessions[0].exchanges[0].capture.request.body).unwrap().len();
    eprintln!("pair_40kb: request bodies of {size} bytes");
    let check = diff_recordings(&left, &right, &rules, options);
    assert!(check.is_clean(), "the benchmark pair is equal once normalized");
    c.bench_function("pair_40kb", |b| {
        b.iter(|| black_box(diff_recordings(black_box(&left), black_box(&right), &rules, options)))
    });

    let left = repeated(&load("upstream-a"), 1000);
    let right = repeated(&load("upstream-b"), 1000);
    assert_eq!((left.len(), right.len()), (1000, 1000));
    let mut group = c.benchmark_group("recording");
    group.sample_size(10);
    group.bench_function("recording_1000_pairs", |b| {
        b.iter(|| black_box(diff_recordings(black_box(&left), black_box(&right), &rules, options)))
    });
    group.finish();
}

criterion_group!(diff, benches);
criterion_main!(diff);
