//! Applying an update's chunks to a file's text, keeping the file's line endings.
//!
//! The file is split into lines at `\n`, `\r\n` and a lone `\r`, each line remembering its ending. Chunks are
//! matched against the line texts; lines a chunk keeps as context stay exactly as they were (text and ending,
//! even when matched loosely), inserted lines take the ending of the file's first line, and the result always
//! ends with a line ending, as upstream's does.

use crate::parser::{Chunk, ChunkLine};
use crate::seek::seek;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Lf,
    CrLf,
    Cr,
}

impl Ending {
    fn as_str(self) -> &'static str {
        match self {
            Ending::Lf => "\n",
            Ending::CrLf => "\r\n",
            Ending::Cr => "\r",
        }
    }
}

#[derive(Debug)]
struct Line<'a> {
    text: &'a str,
    ending: Option<Ending>,
}

/// Why an update's chunks do not fit the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Misfit {
    /// The chunk's `@@` anchor was not found.
    Anchor { chunk: usize, anchor: String },
    /// The chunk's old lines were not found.
    Lines { chunk: usize, lines: Vec<String> },
}

/// `original` with `chunks` applied.
pub(crate) fn apply_chunks(original: &str, chunks: &[Chunk]) -> Result<String, Misfit> {
    let (lines, preferred) = split_lines(original);
    let texts: Vec<&str> = lines.iter().map(|line| line.text).collect();
    let edits = plan_edits(&texts, chunks)?;
    Ok(splice(lines, edits, preferred))
}

fn split_lines(text: &str) -> (Vec<Line<'_>>, Ending) {
    let mut lines = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(['\n', '\r']) {
        let ending = match &rest.as_bytes()[at..] {
            [b'\r', b'\n', ..] => Ending::CrLf,
            [b'\r', ..] => Ending::Cr,
            _ => Ending::Lf,
        };
        lines.push(Line { text: &rest[..at], ending: Some(ending) });
        rest = &rest[at + ending.as_str().len()..];
    }
    if !rest.is_empty() {
        lines.push(Line { text: rest, ending: None });
    }
    let preferred = lines.first().and_then(|line| line.ending).unwrap_or(Ending::Lf);
    (lines, preferred)
}

/// Replace `old_len` lines at `start` by `new`.
#[derive(Debug, PartialEq, Eq)]
struct Edit<'p> {
    start: usize,
    old_len: usize,
    new: Vec<&'p str>,
}

fn plan_edits<'p>(lines: &[&str], chunks: &'p [Chunk]) -> Result<Vec<Edit<'p>>, Misfit> {
    let mut edits = Vec::new();
    let mut cursor = 0;
    for (index, chunk) in chunks.iter().enumerate() {
        if let Some(anchor) = &chunk.anchor {
            let (at, _) = seek(lines, &[anchor.as_str()], cursor, false)
                .ok_or_else(|| Misfit::Anchor { chunk: index, anchor: anchor.clone() })?;
            cursor = at + 1;
        }
        let old = chunk.old_lines();
        let new = chunk.new_lines();
        if old.is_empty() {
            // A chunk that only adds lines appends them to the file, wherever its anchor is.
            edits.push(Edit { start: lines.len(), old_len: 0, new });
            continue;
        }
        let (mut old_side, mut new_side) = (old.as_slice(), new.as_slice());
        let mut found = seek(lines, old_side, cursor, chunk.end_of_file);
        // A trailing empty line in the chunk usually stands for the file's final newline, which is no line of
        // its own here.
        if found.is_none() && old_side.last() == Some(&"") {
            old_side = &old_side[..old_side.len() - 1];
            if new_side.last() == Some(&"") {
                new_side = &new_side[..new_side.len() - 1];
            }
            found = seek(lines, old_side, cursor, chunk.end_of_file);
        }
        let Some((start, _)) = found else {
            return Err(Misfit::Lines { chunk: index, lines: old.iter().map(|line| line.to_string()).collect() });
        };
        edits.extend(edits_around_context(chunk, start, old_side.len(), new_side));
        cursor = start + old_side.len();
    }
    // Appending chunks were recorded at the end in patch order; a stable sort keeps that order among them.
    edits.sort_by_key(|edit| edit.start);
    Ok(edits)
}

/// The edits that turn the matched lines into the chunk's new lines, leaving its context lines untouched so that
/// they keep the file's exact text and endings.
fn edits_around_context<'p>(chunk: &Chunk, start: usize, old_len: usize, new: &[&'p str]) -> Vec<Edit<'p>> {
    let mut edits = Vec::new();
    let (mut old_at, mut new_at) = (0, 0);
    let mut edit_from = (0, 0);
    for line in &chunk.lines {
        match line {
            ChunkLine::Context(_) => {
                // Past the matched lines: a trailing empty line was dropped above.
                if old_at >= old_len || new_at >= new.len() {
                    break;
                }
                if edit_from != (old_at, new_at) {
                    edits.push(Edit {
                        start: start + edit_from.0,
                        old_len: old_at - edit_from.0,
                        new: new[edit_from.1..new_at].to_vec(),
                    });
                }
                old_at += 1;
                new_at += 1;
                edit_from = (old_at, new_at);
            }
            ChunkLine::Remove(_) => old_at += 1,
            ChunkLine::Add(_) => new_at += 1,
        }
    }
    if edit_from != (old_len, new.len()) {
        edits.push(Edit {
            start: start + edit_from.0,
            old_len: old_len - edit_from.0,
            new: new[edit_from.1..].to_vec(),
        });
    }
    edits
}

fn splice(lines: Vec<Line<'_>>, edits: Vec<Edit<'_>>, preferred: Ending) -> String {
    let mut out: Vec<Line<'_>> = Vec::with_capacity(lines.len());
    let mut source = lines.into_iter();
    let mut position = 0;
    for edit in edits {
        debug_assert!(edit.start >= position, "edits overlap");
        let start = edit.start.max(position);
        out.extend(source.by_ref().take(start - position));
        source.by_ref().take(edit.old_len).for_each(drop);
        out.extend(edit.new.into_iter().map(|text| Line { text, ending: Some(preferred) }));
        position = start + edit.old_len;
    }
    out.extend(source);
    out.iter().flat_map(|line| [line.text, line.ending.unwrap_or(preferred).as_str()]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::ChunkLine::{Add, Context, Remove};

    fn chunk(lines: Vec<ChunkLine>) -> Chunk {
        Chunk { anchor: None, lines, end_of_file: false }
    }

    fn s(text: &str) -> String {
        text.to_string()
    }

    #[test]
    fn splits_at_every_kind_of_line_ending() {
        let (lines, preferred) = split_lines("a\r\nb\nc\rd");
        let parts: Vec<_> = lines.iter().map(|l| (l.text, l.ending)).collect();
        assert_eq!(parts, [("a", Some(Ending::CrLf)), ("b", Some(Ending::Lf)), ("c", Some(Ending::Cr)), ("d", None)]);
        assert_eq!(preferred, Ending::CrLf);
        assert_eq!(split_lines("").1, Ending::Lf);
        assert_eq!(split_lines("no newline").1, Ending::Lf);
    }

    #[test]
    fn inserted_lines_take_the_first_lines_ending_and_context_keeps_its_own() {
        let chunks = [chunk(vec![Context(s("a")), Remove(s("b")), Add(s("B")), Add(s("B2")), Context(s("c"))])];
        assert_eq!(apply_chunks("a\nb\r\nc\nd\r\n", &chunks).unwrap(), "a\nB\nB2\nc\nd\r\n");
        assert_eq!(apply_chunks("a\r\nb\nc\r\n", &chunks).unwrap(), "a\r\nB\r\nB2\r\nc\r\n");
    }

    #[test]
    fn loosely_matched_context_keeps_the_files_text() {
        let chunks = [chunk(vec![Context(s(" keep")), Remove(s("  old")), Add(s("  new"))])];
        assert_eq!(apply_chunks("\tkeep\n\told\n", &chunks).unwrap(), "\tkeep\n  new\n");
    }

    #[test]
    fn the_result_always_ends_with_a_newline() {
        let chunks = [chunk(vec![Remove(s("a")), Add(s("A"))])];
        assert_eq!(apply_chunks("a\nb", &chunks).unwrap(), "A\nb\n");
        assert_eq!(apply_chunks("a\r\nb", &chunks).unwrap(), "A\r\nb\r\n");
        assert_eq!(apply_chunks("x\nb\r", &[chunk(vec![Remove(s("x"))])]).unwrap(), "b\r");
    }

    #[test]
    fn appending_chunks_go_to_the_end_in_order() {
        let chunks = [
            chunk(vec![Add(s("after"))]),
            chunk(vec![Context(s("line1")), Remove(s("line2")), Add(s("r"))]),
            chunk(vec![Add(s("last"))]),
        ];
        assert_eq!(apply_chunks("line1\nline2\nline3\n", &chunks).unwrap(), "line1\nr\nline3\nafter\nlast\n");
        assert_eq!(apply_chunks("", &chunks[..1]).unwrap(), "after\n");
    }

    #[test]
    fn anchors_move_the_search_past_them() {
        let mut anchored = chunk(vec![Remove(s("    return 1")), Add(s("    return 2"))]);
        anchored.anchor = Some(s("def two():"));
        let file = "def one():\n    return 1\n\ndef two():\n    return 1\n";
        assert_eq!(
            apply_chunks(file, &[anchored.clone()]).unwrap(),
            "def one():\n    return 1\n\ndef two():\n    return 2\n"
        );
        anchored.anchor = Some(s("def three():"));
        assert_eq!(apply_chunks(file, &[anchored]), Err(Misfit::Anchor { chunk: 0, anchor: s("def three():") }));
    }

    #[test]
    fn chunks_are_found_in_order_only() {
        let chunks = [chunk(vec![Remove(s("c")), Add(s("C"))]), chunk(vec![Remove(s("a")), Add(s("A"))])];
        assert_eq!(apply_chunks("a\nb\nc\n", &chunks), Err(Misfit::Lines { chunk: 1, lines: vec![s("a")] }));
    }

    #[test]
    fn end_of_file_chunks_match_only_at_the_end() {
        let mut tail = chunk(vec![Remove(s("a")), Add(s("A"))]);
        tail.end_of_file = true;
        assert_eq!(apply_chunks("a\nb\na\n", &[tail.clone()]).unwrap(), "a\nb\nA\n");
        assert!(apply_chunks("a\nb\n", &[tail]).is_err());
    }

    #[test]
    fn a_trailing_empty_line_may_stand_for_the_final_newline() {
        let chunks = [chunk(vec![Remove(s("b")), Remove(s("")), Add(s("B")), Add(s(""))])];
        assert_eq!(apply_chunks("a\nb\n", &chunks).unwrap(), "a\nB\n");
        // A chunk of nothing but an empty line then matches anywhere and changes nothing.
        assert_eq!(apply_chunks("a\n", &[chunk(vec![Context(s(""))])]).unwrap(), "a\n");
    }

    #[test]
    fn the_not_found_error_quotes_all_old_lines() {
        let chunks = [chunk(vec![Context(s("a")), Remove(s("missing")), Context(s("")), Context(s(""))])];
        assert_eq!(
            apply_chunks("a\nb\n", &chunks),
            Err(Misfit::Lines { chunk: 0, lines: vec![s("a"), s("missing"), s(""), s("")] })
        );
    }

    #[test]
    fn context_only_chunks_still_terminate_the_last_line() {
        assert_eq!(apply_chunks("a\r\nb", &[chunk(vec![Context(s("a"))])]).unwrap(), "a\r\nb\r\n");
    }
}
