//! Line diffs of long strings, with the changed words marked (the `similar` crate's inline diff).

use std::time::Duration;

use serde::Serialize;
use similar::{Algorithm, ChangeTag, TextDiff as SimilarDiff};

/// Lines of context kept around each change.
const CONTEXT: usize = 2;

/// The differing parts of two texts, as hunks of lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextDiff {
    pub hunks: Vec<Hunk>,
}

/// A run of changed lines with their context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hunk {
    /// 1-based line numbers of the hunk's first line on each side.
    pub left_line: usize,
    pub right_line: usize,
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineTag {
    /// Context, on both sides.
    Equal,
    /// Only on the left.
    Left,
    /// Only on the right.
    Right,
}

/// One line, in parts; `changed` parts are the words that differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub tag: LineTag,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Part {
    pub text: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub changed: bool,
}

impl Line {
    /// The line's text, without its newline.
    pub fn text(&self) -> String {
        self.parts.iter().map(|p| p.text.as_str()).collect()
    }
}

/// Whether two differing strings are worth a line diff rather than being shown whole.
pub fn wants_diff(left: &str, right: &str) -> bool {
    left.contains('\n') || right.contains('\n') || left.len() > 80 || right.len() > 80
}

impl TextDiff {
    /// Diffs two texts by line, then marks the changed words within changed lines.
    pub fn new(left: &str, right: &str) -> TextDiff {
        let diff = SimilarDiff::configure()
            .algorithm(Algorithm::Patience)
            .timeout(Duration::from_millis(200))
            .diff_lines(left, right);
        let mut hunks = Vec::new();
        for group in diff.grouped_ops(CONTEXT) {
            let Some(first) = group.first() else { continue };
            let mut hunk = Hunk {
                left_line: first.old_range().start + 1,
                right_line: first.new_range().start + 1,
                lines: Vec::new(),
            };
            for op in &group {
                for change in diff.iter_inline_changes(op) {
                    let tag = match change.tag() {
                        ChangeTag::Equal => LineTag::Equal,
                        ChangeTag::Delete => LineTag::Left,
                        ChangeTag::Insert => LineTag::Right,
                    };
                    let mut parts: Vec<Part> = change
                        .iter_strings_lossy()
                        .map(|(changed, text)| Part { text: text.into_owned(), changed })
                        .collect();
                    if let Some(last) = parts.last_mut()
                        && last.text.ends_with('\n')
                    {
                        last.text.pop();
                        if last.text.ends_with('\r') {
                            last.text.pop();
                        }
                    }
                    parts.retain(|p| !p.text.is_empty());
                    parts = merge_changed_runs(parts);
                    // A whole line added or removed is not "changed words": mark nothing within it.
                    if parts.iter().all(|p| p.changed) {
                        parts.iter_mut().for_each(|p| p.changed = false);
                    }
                    hunk.lines.push(Line { tag, parts });
                }
            }
            hunks.push(hunk);
        }
        TextDiff { hunks }
    }
}

/// Joins changed words separated only by spaces (`[-a-] [-b-]` becomes `[-a b-]`), and adjacent parts alike.
fn merge_changed_runs(parts: Vec<Part>) -> Vec<Part> {
    let mut out: Vec<Part> = Vec::with_capacity(parts.len());
    let mut i = 0;
    while i < parts.len() {
        let part = &parts[i];
        let bridges = !part.changed
            && part.text.chars().all(char::is_whitespace)
            && out.last().is_some_and(|p| p.changed)
            && parts.get(i + 1).is_some_and(|p| p.changed);
        match out.last_mut() {
            Some(last) if last.changed == part.changed || bridges => {
                last.text.push_str(&part.text);
                last.changed |= bridges;
            }
            _ => out.push(part.clone()),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_words_are_marked_within_changed_lines() {
        let left = "one\ntwo\nthree four five\nsix\nseven\neight\nnine\n";
        let right = "one\ntwo\nthree FOUR five\nsix\nseven\neight\nnine\n";
        let diff = TextDiff::new(left, right);
        assert_eq!(diff.hunks.len(), 1);
        let hunk = &diff.hunks[0];
        assert_eq!((hunk.left_line, hunk.right_line), (1, 1));
        let tags: Vec<LineTag> = hunk.lines.iter().map(|l| l.tag).collect();
        use LineTag::*;
        assert_eq!(tags, [Equal, Equal, Left, Right, Equal, Equal]);
        let changed: Vec<&str> = hunk.lines[3].parts.iter().filter(|p| p.changed).map(|p| p.text.as_str()).collect();
        assert_eq!(changed, ["FOUR"]);
        assert_eq!(hunk.lines[2].text(), "three four five");
    }

    #[test]
    fn distant_changes_make_separate_hunks_and_whole_new_lines_are_unmarked() {
        let left: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        let right = left.replace("line 2\n", "line two\n") + "line 21\n";
        let diff = TextDiff::new(&left, &right);
        assert_eq!(diff.hunks.len(), 2);
        let added = diff.hunks[1].lines.last().unwrap();
        assert_eq!(added.tag, LineTag::Right);
        assert!(added.parts.iter().all(|p| !p.changed));
        assert_eq!(diff.hunks[1].left_line, 19);
    }

    #[test]
    fn changed_words_separated_by_spaces_are_one_run() {
        let diff = TextDiff::new("a b c d e\n", "a X Y Z e\n");
        let line = &diff.hunks[0].lines[1];
        let changed: Vec<&str> = line.parts.iter().filter(|p| p.changed).map(|p| p.text.as_str()).collect();
        assert_eq!(changed, ["X Y Z"]);
        assert_eq!(line.text(), "a X Y Z e");
    }

    #[test]
    fn long_or_multiline_strings_want_a_diff() {
        assert!(!wants_diff("a", "b"));
        assert!(wants_diff("a\nb", "a"));
        assert!(wants_diff(&"x".repeat(81), "y"));
    }
}
