//! From patch text to [`Patch`], as leniently as Codex 0.169.0 reads it.
//!
//! The grammar Codex offers the model is strict, but what Codex accepts is looser, and a model that learnt from
//! Codex relies on the looseness: markers may carry surrounding whitespace, the first chunk of an update may omit
//! its `@@` line, a heredoc wrapper (`<<'EOF'` … `EOF`) around the whole patch is tolerated, blank lines stand for
//! empty context lines. Every rule below was pinned by observing 0.169.0 (see `tests/observed/`), including where
//! it departs from the grammar, and the error texts are the ones the model reads.

use std::fmt;
use std::path::{Path, PathBuf};

const BEGIN_PATCH: &str = "*** Begin Patch";
const END_PATCH: &str = "*** End Patch";
const ADD_FILE: &str = "*** Add File: ";
const DELETE_FILE: &str = "*** Delete File: ";
const UPDATE_FILE: &str = "*** Update File: ";
const MOVE_TO: &str = "*** Move to: ";
const END_OF_FILE: &str = "*** End of File";
const BARE_ANCHOR: &str = "@@";
const ANCHOR: &str = "@@ ";

/// A parsed patch: file operations in the order the patch gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    /// The file operations, in patch order. Empty for `*** Begin Patch` directly followed by `*** End Patch`,
    /// which parses but is refused when applied.
    pub hunks: Vec<Hunk>,
}

/// One file operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hunk {
    /// `*** Add File:` — create the file, or replace it if it exists.
    Add {
        /// The path as written in the patch.
        path: PathBuf,
        /// The new contents: every `+` line, each ending in `\n`.
        contents: String,
    },
    /// `*** Delete File:` — remove the file.
    Delete {
        /// The path as written in the patch.
        path: PathBuf,
    },
    /// `*** Update File:` — edit the file in place, or into `move_to`.
    Update {
        /// The path as written in the patch.
        path: PathBuf,
        /// `*** Move to:` — where the edited file goes; the original is removed.
        move_to: Option<PathBuf>,
        /// The edits, in file order: each is searched for after the previous one.
        chunks: Vec<Chunk>,
    },
}

impl Hunk {
    /// The path the hunk operates on, as written in the patch (the source of a move).
    pub fn path(&self) -> &Path {
        match self {
            Hunk::Add { path, .. } | Hunk::Delete { path } | Hunk::Update { path, .. } => path,
        }
    }
}

/// One edit within an updated file: lines to find and what replaces them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The text after `@@ `: a line (typically a function or class header) to find first; the lines are then
    /// searched for after it.
    pub anchor: Option<String>,
    /// The chunk's lines in order.
    pub lines: Vec<ChunkLine>,
    /// `*** End of File`: the old lines must be the file's last lines.
    pub end_of_file: bool,
}

/// A line of a [`Chunk`], without its one-character prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkLine {
    /// ` ` (or an empty line): must be present, and is kept as the file has it.
    Context(String),
    /// `-`: must be present, and is removed.
    Remove(String),
    /// `+`: is inserted.
    Add(String),
}

impl Chunk {
    /// The lines the file must contain: context and removed lines, in order.
    pub fn old_lines(&self) -> Vec<&str> {
        self.lines
            .iter()
            .filter_map(|line| match line {
                ChunkLine::Context(text) | ChunkLine::Remove(text) => Some(text.as_str()),
                ChunkLine::Add(_) => None,
            })
            .collect()
    }

    /// The lines that replace them: context and added lines, in order.
    pub fn new_lines(&self) -> Vec<&str> {
        self.lines
            .iter()
            .filter_map(|line| match line {
                ChunkLine::Context(text) | ChunkLine::Add(text) => Some(text.as_str()),
                ChunkLine::Remove(_) => None,
            })
            .collect()
    }
}

/// Why patch text could not be parsed, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    line: usize,
    kind: ParseErrorKind,
}

/// What is wrong with the patch text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The first line is not `*** Begin Patch`.
    MissingBegin,
    /// The last line is not `*** End Patch`, or lines follow an inner `*** End Patch`.
    MissingEnd,
    /// A line where a hunk must start is not a hunk header.
    InvalidHunkHeader {
        /// The line, trimmed.
        header: String,
    },
    /// An update hunk has no chunk.
    EmptyUpdate {
        /// The path as written in the patch.
        path: String,
    },
    /// A chunk after the first does not start with `@@`.
    MissingAnchorLine {
        /// The line found instead.
        found: String,
    },
    /// A chunk has no line after its `@@` line, or before its `*** End of File`.
    EmptyChunk,
    /// A chunk's first line has no ` `, `+` or `-` prefix.
    UnexpectedLine {
        /// The line.
        line: String,
    },
}

impl ParseError {
    fn new(line: usize, kind: ParseErrorKind) -> Self {
        ParseError { line, kind }
    }

    /// The 1-based line the error is about, counting the `*** Begin Patch` line as line 1.
    pub fn line(&self) -> usize {
        self.line
    }

    /// What is wrong.
    pub fn kind(&self) -> &ParseErrorKind {
        &self.kind
    }
}

/// Upstream's wording, which the model reads after `apply_patch verification failed: `. Errors about the patch's
/// boundaries carry no line number there, though [`ParseError::line`] has one.
impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = self.line;
        match &self.kind {
            ParseErrorKind::MissingBegin => {
                write!(f, "invalid patch: The first line of the patch must be '{BEGIN_PATCH}'")
            }
            ParseErrorKind::MissingEnd => write!(f, "invalid patch: The last line of the patch must be '{END_PATCH}'"),
            ParseErrorKind::InvalidHunkHeader { header } => write!(
                f,
                "invalid hunk at line {line}, '{header}' is not a valid hunk header. Valid hunk headers: \
                 '*** Add File: {{path}}', '*** Delete File: {{path}}', '*** Update File: {{path}}'"
            ),
            ParseErrorKind::EmptyUpdate { path } => {
                write!(f, "invalid hunk at line {line}, Update file hunk for path '{path}' is empty")
            }
            ParseErrorKind::MissingAnchorLine { found } => write!(
                f,
                "invalid hunk at line {line}, Expected update hunk to start with a @@ context marker, got: '{found}'"
            ),
            ParseErrorKind::EmptyChunk => {
                write!(f, "invalid hunk at line {line}, Update hunk does not contain any lines")
            }
            ParseErrorKind::UnexpectedLine { line: text } => write!(
                f,
                "invalid hunk at line {line}, Unexpected line found in update hunk: '{text}'. Every line should \
                 start with ' ' (context line), '+' (added line), or '-' (removed line)"
            ),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses patch text.
///
/// Surrounding whitespace of the whole text is ignored, and lines may end in `\r\n`. When the text is not a
/// patch but a heredoc holding one (`<<'EOF'`, `<<"EOF"` or `<<EOF` first, a line ending in `EOF` last), the
/// patch inside is parsed.
///
/// # Errors
///
/// The first problem found, with its line number; its `Display` is the text upstream shows the model.
pub fn parse(input: &str) -> Result<Patch, ParseError> {
    let lines: Vec<&str> = input.trim().lines().collect();
    let body = match body_between_markers(&lines) {
        Ok(body) => body,
        Err(err) => heredoc_contents(&lines).ok_or(err).and_then(body_between_markers)?,
    };
    let mut hunks = Vec::new();
    let mut at = 0;
    while at < body.len() {
        // The Begin line is line 1, so the body starts at line 2.
        let line_number = at + 2;
        if body[at].trim() == END_PATCH {
            if at + 1 < body.len() {
                return Err(ParseError::new(line_number, ParseErrorKind::MissingEnd));
            }
            break;
        }
        let (hunk, used) = parse_hunk(&body[at..], line_number)?;
        hunks.push(hunk);
        at += used;
    }
    Ok(Patch { hunks })
}

fn body_between_markers<'a>(lines: &'a [&'a str]) -> Result<&'a [&'a str], ParseError> {
    match (lines.first(), lines.last()) {
        (Some(first), _) if first.trim() != BEGIN_PATCH => Err(ParseError::new(1, ParseErrorKind::MissingBegin)),
        (Some(_), Some(last)) if lines.len() >= 2 && last.trim() == END_PATCH => Ok(&lines[1..lines.len() - 1]),
        _ => Err(ParseError::new(lines.len().max(1), ParseErrorKind::MissingEnd)),
    }
}

/// The lines inside a heredoc wrapper, when `lines` is one around at least two lines.
fn heredoc_contents<'a>(lines: &'a [&'a str]) -> Option<&'a [&'a str]> {
    let (first, last) = (lines.first()?, lines.last()?);
    let opens = matches!(*first, "<<EOF" | "<<'EOF'" | "<<\"EOF\"");
    (opens && last.ends_with("EOF") && lines.len() >= 4).then(|| &lines[1..lines.len() - 1])
}

/// Parses the hunk starting at `lines[0]`, which is line `line_number`; returns it and how many lines it spans.
fn parse_hunk(lines: &[&str], line_number: usize) -> Result<(Hunk, usize), ParseError> {
    let header = lines[0].trim();
    if let Some(path) = header.strip_prefix(ADD_FILE) {
        let added: Vec<&str> = lines[1..].iter().map_while(|line| line.strip_prefix('+')).collect();
        let contents = added.iter().fold(String::new(), |mut contents, line| {
            contents.push_str(line);
            contents.push('\n');
            contents
        });
        let hunk = Hunk::Add { path: PathBuf::from(path), contents };
        return Ok((hunk, 1 + added.len()));
    }
    if let Some(path) = header.strip_prefix(DELETE_FILE) {
        return Ok((Hunk::Delete { path: PathBuf::from(path) }, 1));
    }
    let Some(path) = header.strip_prefix(UPDATE_FILE) else {
        return Err(ParseError::new(line_number, ParseErrorKind::InvalidHunkHeader { header: header.to_string() }));
    };

    let mut used = 1;
    // Trailing whitespace after the destination is dropped, but a leading one makes the line a context line.
    let move_to = lines.get(1).and_then(|line| line.trim_end().strip_prefix(MOVE_TO)).map(PathBuf::from);
    if move_to.is_some() {
        used += 1;
    }
    let mut chunks = Vec::new();
    while let Some(line) = lines.get(used) {
        // Blank lines between chunks are skipped, but before the first chunk a blank line is an empty context line.
        if !chunks.is_empty() && line.trim().is_empty() {
            used += 1;
            continue;
        }
        if starts_next_hunk(line) {
            break;
        }
        let (chunk, chunk_lines) = parse_chunk(&lines[used..], line_number + used, chunks.is_empty())?;
        chunks.push(chunk);
        used += chunk_lines;
    }
    if chunks.is_empty() {
        return Err(ParseError::new(line_number, ParseErrorKind::EmptyUpdate { path: path.to_string() }));
    }
    let hunk = Hunk::Update { path: PathBuf::from(path), move_to, chunks };
    Ok((hunk, used))
}

/// Whether a line between an update's chunks ends the update. Hunk headers count only unindented here, unlike
/// where a hunk is expected; the end marker counts either way.
fn starts_next_hunk(line: &str) -> bool {
    [ADD_FILE, DELETE_FILE, UPDATE_FILE].iter().any(|marker| line.starts_with(marker)) || line.trim() == END_PATCH
}

/// Parses the chunk starting at `lines[0]`, which is line `line_number`; returns it and how many lines it spans.
fn parse_chunk(lines: &[&str], line_number: usize, is_first: bool) -> Result<(Chunk, usize), ParseError> {
    let head = lines[0].trim_end();
    let (anchor, start) = if head == BARE_ANCHOR {
        (None, 1)
    } else if let Some(anchor) = head.strip_prefix(ANCHOR) {
        (Some(anchor.to_string()), 1)
    } else if is_first {
        (None, 0)
    } else {
        return Err(ParseError::new(line_number, ParseErrorKind::MissingAnchorLine { found: lines[0].to_string() }));
    };
    if start >= lines.len() {
        return Err(ParseError::new(line_number + 1, ParseErrorKind::EmptyChunk));
    }

    let mut chunk = Chunk { anchor, lines: Vec::new(), end_of_file: false };
    let mut used = start;
    for line in &lines[start..] {
        if line.trim_end() == END_OF_FILE {
            if chunk.lines.is_empty() {
                return Err(ParseError::new(line_number + 1, ParseErrorKind::EmptyChunk));
            }
            chunk.end_of_file = true;
            used += 1;
            break;
        }
        let parsed = match line.chars().next() {
            None => ChunkLine::Context(String::new()),
            Some(' ') => ChunkLine::Context(line[1..].to_string()),
            Some('-') => ChunkLine::Remove(line[1..].to_string()),
            Some('+') => ChunkLine::Add(line[1..].to_string()),
            Some(_) if chunk.lines.is_empty() => {
                return Err(ParseError::new(
                    line_number + used,
                    ParseErrorKind::UnexpectedLine { line: line.to_string() },
                ));
            }
            // Any other line ends the chunk; what it starts is the caller's concern.
            Some(_) => break,
        };
        chunk.lines.push(parsed);
        used += 1;
    }
    Ok((chunk, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(body: &str) -> String {
        format!("{BEGIN_PATCH}\n{body}{END_PATCH}\n")
    }

    fn error(input: &str) -> (usize, String) {
        let err = parse(input).expect_err("the patch should not parse");
        (err.line(), err.to_string())
    }

    fn chunks(input: &str) -> Vec<Chunk> {
        match parse(input).expect("the patch should parse").hunks.as_slice() {
            [Hunk::Update { chunks, .. }] => chunks.clone(),
            other => panic!("expected one update hunk, got {other:?}"),
        }
    }

    use ChunkLine::{Add, Context, Remove};

    fn s(text: &str) -> String {
        text.to_string()
    }

    #[test]
    fn parses_every_hunk_kind_in_order() {
        let parsed = parse(&patch(
            "*** Add File: a.txt\n+one\n+\n*** Delete File: d.txt\n*** Update File: u.txt\n*** Move to: v.txt\n\
             @@ fn main()\n ctx\n-old\n+new\n*** End of File\n",
        ))
        .unwrap();
        assert_eq!(
            parsed.hunks,
            vec![
                Hunk::Add { path: "a.txt".into(), contents: s("one\n\n") },
                Hunk::Delete { path: "d.txt".into() },
                Hunk::Update {
                    path: "u.txt".into(),
                    move_to: Some("v.txt".into()),
                    chunks: vec![Chunk {
                        anchor: Some(s("fn main()")),
                        lines: vec![Context(s("ctx")), Remove(s("old")), Add(s("new"))],
                        end_of_file: true,
                    }],
                },
            ]
        );
    }

    #[test]
    fn old_and_new_lines_interleave_context() {
        let chunk = Chunk {
            anchor: None,
            lines: vec![Context(s("a")), Remove(s("b")), Add(s("B")), Context(s("c"))],
            end_of_file: false,
        };
        assert_eq!(chunk.old_lines(), ["a", "b", "c"]);
        assert_eq!(chunk.new_lines(), ["a", "B", "c"]);
    }

    #[test]
    fn boundary_errors_name_the_marker() {
        assert_eq!(
            error("*** Add File: x\n+x\n*** End Patch"),
            (1, s("invalid patch: The first line of the patch must be '*** Begin Patch'"))
        );
        assert_eq!(
            error("*** Begin Patch\n*** Add File: x\n+x"),
            (3, s("invalid patch: The last line of the patch must be '*** End Patch'"))
        );
        assert_eq!(error(""), (1, s("invalid patch: The last line of the patch must be '*** End Patch'")));
        assert_eq!(error("*** Begin Patch").1, error("").1);
    }

    #[test]
    fn whitespace_around_the_text_and_markers_is_ignored() {
        let parsed = parse("\n\n  *** Begin Patch  \r\n  *** Add File: p.txt  \r\n+p\r\n *** End Patch \n\n").unwrap();
        assert_eq!(parsed.hunks, vec![Hunk::Add { path: "p.txt".into(), contents: s("p\n") }]);
    }

    #[test]
    fn a_heredoc_wrapper_is_unwrapped() {
        for opener in ["<<EOF", "<<'EOF'", "<<\"EOF\""] {
            let parsed = parse(&format!("{opener}\n{}EOF\n", patch("*** Delete File: d\n"))).unwrap();
            assert_eq!(parsed.hunks, vec![Hunk::Delete { path: "d".into() }], "{opener}");
        }
        // A wrapper that does not close is not one: the outer error stands.
        assert_eq!(
            error(&format!("<<'EOF'\n{}END\n", patch("*** Delete File: d\n"))).1,
            "invalid patch: The first line of the patch must be '*** Begin Patch'"
        );
    }

    #[test]
    fn an_inner_end_marker_must_be_the_last_line() {
        assert_eq!(
            parse("*** Begin Patch\n*** Add File: x\n+x\n*** End Patch\n*** End Patch\n").unwrap().hunks.len(),
            1
        );
        assert_eq!(
            error(&patch("*** Add File: x\n+x\n*** End Patch\n*** Add File: y\n+y\n")),
            (4, s("invalid patch: The last line of the patch must be '*** End Patch'"))
        );
    }

    #[test]
    fn an_empty_patch_parses_to_no_hunks() {
        assert_eq!(parse("*** Begin Patch\n*** End Patch").unwrap().hunks, vec![]);
    }

    #[test]
    fn hunk_header_errors_quote_the_trimmed_line() {
        assert_eq!(
            error(&patch("  *** Frobnicate File: x  \n")),
            (
                2,
                s("invalid hunk at line 2, '*** Frobnicate File: x' is not a valid hunk header. Valid hunk \
                   headers: '*** Add File: {path}', '*** Delete File: {path}', '*** Update File: {path}'")
            )
        );
        // An add hunk ends at the first line without `+`, which must then start a hunk.
        assert_eq!(error(&patch("*** Add File: x\n+ok\nno plus\n")).0, 4);
        // A header without a path loses its trailing space to trimming and is no header.
        assert!(error(&patch("*** Add File: \n+x\n")).1.contains("'*** Add File:' is not a valid hunk header"));
    }

    #[test]
    fn paths_keep_inner_spaces_but_not_trailing_ones() {
        let parsed = parse(&patch("*** Add File:  lead.txt  \n+l\n")).unwrap();
        assert_eq!(parsed.hunks[0].path(), Path::new(" lead.txt"));
    }

    #[test]
    fn update_errors_name_the_line() {
        assert_eq!(
            error(&patch("*** Update File: f.txt\n")),
            (2, s("invalid hunk at line 2, Update file hunk for path 'f.txt' is empty"))
        );
        assert_eq!(
            error(&patch("*** Update File: f.txt\n@@\n")),
            (4, s("invalid hunk at line 4, Update hunk does not contain any lines"))
        );
        assert_eq!(error(&patch("*** Update File: f.txt\n@@\n*** End of File\n")).0, 4);
        assert_eq!(
            error(&patch("*** Update File: f.txt\n@@\nbad line\n")),
            (
                4,
                s("invalid hunk at line 4, Unexpected line found in update hunk: 'bad line'. Every line should \
                   start with ' ' (context line), '+' (added line), or '-' (removed line)")
            )
        );
        // Without an `@@` line the offending line is the chunk's first.
        assert_eq!(error(&patch("*** Update File: f.txt\n@@a\n")).0, 3);
        assert_eq!(
            error(&patch("*** Update File: f.txt\n@@\n-a\n+A\nbad line\n")),
            (6, s("invalid hunk at line 6, Expected update hunk to start with a @@ context marker, got: 'bad line'"))
        );
    }

    #[test]
    fn anchors_lose_trailing_whitespace_only() {
        let parsed = chunks(&patch("*** Update File: f\n@@   spaced  \n-a\n@@  \n-b\n@@\t\n-c\n"));
        let anchors: Vec<_> = parsed.iter().map(|c| c.anchor.clone()).collect();
        assert_eq!(anchors, [Some(s("  spaced")), None, None]);
    }

    #[test]
    fn the_first_chunk_may_omit_its_anchor_line() {
        assert_eq!(
            chunks(&patch("*** Update File: f\n a\n-b\n+B\n")),
            vec![Chunk { anchor: None, lines: vec![Context(s("a")), Remove(s("b")), Add(s("B"))], end_of_file: false }]
        );
        // An indented `@@` is then a context line, not an anchor.
        assert_eq!(chunks(&patch("*** Update File: f\n @@ b\n-a\n"))[0].lines[0], Context(s("@@ b")));
    }

    #[test]
    fn blank_lines_are_context_inside_chunks_and_skipped_between_them() {
        let parsed = chunks(&patch("*** Update File: f\n\n@@\n-a\n\n+A\n*** End of File\n   \n\n@@\n-b\n"));
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0].lines, vec![Context(s(""))]);
        assert_eq!(parsed[1].lines, vec![Remove(s("a")), Context(s("")), Add(s("A"))]);
        assert!(parsed[1].end_of_file);
        assert_eq!(parsed[2].lines, vec![Remove(s("b"))]);
    }

    #[test]
    fn markers_inside_an_update_are_matched_as_upstream_matches_them() {
        // `*** End of File` tolerates trailing but not leading whitespace.
        let parsed = chunks(&patch("*** Update File: f\n@@\n-a\n*** End of File  \n"));
        assert!(parsed[0].end_of_file);
        let parsed = chunks(&patch("*** Update File: f\n@@\n-a\n *** End of File\n"));
        assert_eq!(parsed[0].lines[1], Context(s("*** End of File")));
        // A move line with trailing whitespace is a move; an indented one is a context line.
        match &parse(&patch("*** Update File: f\n*** Move to: g  \n@@\n-a\n")).unwrap().hunks[0] {
            Hunk::Update { move_to, .. } => assert_eq!(move_to.as_deref(), Some(Path::new("g"))),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            chunks(&patch("*** Update File: f\n  *** Move to: g\n@@\n-a\n"))[0].lines,
            vec![Context(s(" *** Move to: g"))]
        );
        // Between chunks only an unindented hunk header ends the update.
        assert_eq!(
            error(&patch("*** Update File: f\n@@\n-a\n*** End of File\n  *** Add File: x\n+x\n")).1,
            "invalid hunk at line 6, Expected update hunk to start with a @@ context marker, got: '  *** Add File: x'"
        );
        assert_eq!(error(&patch("*** Update File: f\n@@\n-a\n*bold*\n")).0, 5);
    }

    #[test]
    fn an_update_ends_at_the_next_hunk() {
        let parsed = parse(&patch("*** Update File: f\n@@\n+line\n*** Add File: other\n+content\n")).unwrap();
        assert_eq!(parsed.hunks.len(), 2);
        assert!(matches!(&parsed.hunks[1], Hunk::Add { path, .. } if path == Path::new("other")));
    }

    #[test]
    fn line_numbers_count_from_the_begin_marker_after_trimming() {
        let input = format!("\n\n{}", patch("*** Add File: a\n+1\n+2\n*** Update File: f\n@@\n-a\n@@ ctx\nbad\n"));
        assert_eq!(error(&input).0, 9);
    }
}
