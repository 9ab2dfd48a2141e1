//! Finding a chunk's lines in a file, with upstream's tolerance for how models misquote them.
//!
//! Models reproduce context imperfectly: trailing whitespace goes missing, indentation drifts, typographic
//! punctuation comes back as ASCII. Each tolerance level is tried over the whole search range before the next,
//! looser one, so an exact match anywhere beats a loose match earlier in the file.

/// How loosely two lines were compared when a match was found, strictest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Tolerance {
    Exact,
    TrailingWhitespace,
    SurroundingWhitespace,
    Punctuation,
}

impl Tolerance {
    const ALL: [Tolerance; 4] =
        [Tolerance::Exact, Tolerance::TrailingWhitespace, Tolerance::SurroundingWhitespace, Tolerance::Punctuation];

    fn same(self, line: &str, wanted: &str) -> bool {
        match self {
            Tolerance::Exact => line == wanted,
            Tolerance::TrailingWhitespace => line.trim_end() == wanted.trim_end(),
            Tolerance::SurroundingWhitespace => line.trim() == wanted.trim(),
            Tolerance::Punctuation => {
                line.trim().chars().map(ascii_lookalike).eq(wanted.trim().chars().map(ascii_lookalike))
            }
        }
    }
}

/// The ASCII character a model is likely to have typed for a typographic one.
fn ascii_lookalike(c: char) -> char {
    match c {
        // Hyphens and dashes, and the minus sign.
        '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
        // Curly and low single quotes.
        '\u{2018}'..='\u{201B}' => '\'',
        // Curly and low double quotes.
        '\u{201C}'..='\u{201F}' => '"',
        // No-break, fixed-width and ideographic spaces.
        '\u{00A0}' | '\u{2002}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => ' ',
        other => other,
    }
}

/// Where `wanted` occurs in `lines` at or after `from`, and how loosely it had to be compared.
///
/// With `at_end`, only the position that puts `wanted` at the very end of `lines` is tried (and only if it is
/// not before `from`). An empty `wanted` matches at `from`.
pub(crate) fn seek(lines: &[&str], wanted: &[&str], from: usize, at_end: bool) -> Option<(usize, Tolerance)> {
    if wanted.is_empty() {
        return Some((from, Tolerance::Exact));
    }
    let last_start = lines.len().checked_sub(wanted.len())?;
    let first_start = if at_end { last_start.max(from) } else { from };
    Tolerance::ALL.into_iter().find_map(|tolerance| {
        (first_start..=last_start)
            .find(|&start| lines[start..].iter().zip(wanted).all(|(line, wanted)| tolerance.same(line, wanted)))
            .map(|start| (start, tolerance))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_an_exact_match_at_or_after_the_start() {
        let lines = ["a", "b", "a", "b"];
        assert_eq!(seek(&lines, &["a", "b"], 0, false), Some((0, Tolerance::Exact)));
        assert_eq!(seek(&lines, &["a", "b"], 1, false), Some((2, Tolerance::Exact)));
        assert_eq!(seek(&lines, &["a", "b"], 3, false), None);
    }

    #[test]
    fn each_level_is_tried_in_turn() {
        assert_eq!(seek(&["foo   ", "bar\t"], &["foo", "bar"], 0, false), Some((0, Tolerance::TrailingWhitespace)));
        assert_eq!(
            seek(&["    foo", "\tbar  "], &["foo", "bar"], 0, false),
            Some((0, Tolerance::SurroundingWhitespace))
        );
        assert_eq!(
            seek(
                &["x = 1  # a \u{2013} b \u{201C}q\u{201D} \u{2018}r\u{2019}\u{00A0}"],
                &["x = 1  # a - b \"q\" 'r'"],
                0,
                false
            ),
            Some((0, Tolerance::Punctuation))
        );
        // Both sides are folded, so typographic punctuation in the patch matches ASCII in the file...
        assert_eq!(seek(&["a - b"], &["a \u{2014} b"], 0, false), Some((0, Tolerance::Punctuation)));
        // ...but letters are never folded.
        assert_eq!(seek(&["caf\u{e9}"], &["cafe"], 0, false), None);
    }

    #[test]
    fn a_stricter_match_later_beats_a_looser_one_earlier() {
        assert_eq!(seek(&["  x", "x"], &["x"], 0, false), Some((1, Tolerance::Exact)));
    }

    #[test]
    fn at_end_tries_only_the_last_position() {
        let lines = ["a", "b", "a"];
        assert_eq!(seek(&lines, &["a"], 0, true), Some((2, Tolerance::Exact)));
        assert_eq!(seek(&["a", "b"], &["a"], 0, true), None);
        // Nor does the end position count when it lies before the start.
        assert_eq!(seek(&["a", "b"], &["a", "b"], 1, true), None);
    }

    #[test]
    fn edge_cases_do_not_panic() {
        assert_eq!(seek(&["a"], &[], 1, false), Some((1, Tolerance::Exact)));
        assert_eq!(seek(&["a"], &["a", "b", "c"], 0, false), None);
        assert_eq!(seek(&[], &["a"], 0, true), None);
        assert_eq!(seek(&["a"], &["a"], 5, false), None);
    }
}
