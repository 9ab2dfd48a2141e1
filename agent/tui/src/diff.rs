//! Diffs as the interface shows them: a patch's files with numbered, signed lines (the transcript's patch cells),
//! and the workspace's changes against git (`/diff`).

use std::path::Path;

/// One line of a file's diff: its number (the new file's, or the old one's for a removed line), `+`, `-` or ` `,
/// and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    pub number: usize,
    pub sign: char,
    pub text: String,
}

/// A file of a patch, ready to draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePatch {
    /// As the user knows it: relative to the working directory when under it.
    pub path: String,
    pub kind: String,
    pub lines: Vec<DiffLine>,
}

impl FilePatch {
    /// A change of a `file_change` item: `diff` is a unified diff for an update, the whole text of an added or
    /// deleted file.
    pub fn new(path: &str, kind: &str, diff: &str, cwd: &Path) -> FilePatch {
        let shown = Path::new(path).strip_prefix(cwd).map(|p| p.display().to_string()).unwrap_or(path.to_string());
        let lines = match kind {
            "add" => numbered(diff, '+'),
            "delete" => numbered(diff, '-'),
            _ => unified(diff),
        };
        FilePatch { path: shown, kind: kind.to_string(), lines }
    }

    /// Lines added and removed.
    pub fn counts(&self) -> (usize, usize) {
        let count = |sign| self.lines.iter().filter(|l| l.sign == sign).count();
        (count('+'), count('-'))
    }
}

/// A whole file's text, every line with `sign`.
fn numbered(text: &str, sign: char) -> Vec<DiffLine> {
    text.lines().enumerate().map(|(i, line)| DiffLine { number: i + 1, sign, text: line.to_string() }).collect()
}

/// The lines of a unified diff's hunks, numbered from their `@@ -a,b +c,d @@` headers.
fn unified(diff: &str) -> Vec<DiffLine> {
    let (mut old, mut new) = (0, 0);
    let mut lines = Vec::new();
    for line in diff.lines() {
        if let Some(header) = line.strip_prefix("@@ ") {
            let start = |mark: char| {
                header
                    .split_whitespace()
                    .find_map(|range| range.strip_prefix(mark))
                    .and_then(|range| range.split(',').next()?.parse::<usize>().ok())
                    .unwrap_or(1)
            };
            (old, new) = (start('-'), start('+'));
            continue;
        }
        let mut chars = line.chars();
        let sign = chars.next().unwrap_or(' ');
        let text = chars.as_str().to_string();
        match sign {
            '+' => {
                lines.push(DiffLine { number: new, sign, text });
                new += 1;
            }
            '-' => {
                lines.push(DiffLine { number: old, sign, text });
                old += 1;
            }
            ' ' => {
                lines.push(DiffLine { number: new, sign, text });
                old += 1;
                new += 1;
            }
            // `\ No newline at end of file` and the like.
            _ => {}
        }
    }
    lines
}

/// The workspace's changes as `git diff` tells them (tracked files against the index), then each untracked file as
/// an added one; `Err` with what to tell the user when `cwd` is no git repository or git cannot run.
pub fn workspace_diff(cwd: &Path) -> Result<String, String> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(cwd)
            .args(args)
            .env("GIT_PAGER", "cat")
            .output()
            .map_err(|e| format!("could not run git: {e}"))
    };
    let inside = git(&["rev-parse", "--is-inside-work-tree"])?;
    if !inside.status.success() {
        return Err("not inside a git repository".into());
    }
    let tracked = git(&["diff", "--no-color", "--no-ext-diff"])?;
    let mut text = String::from_utf8_lossy(&tracked.stdout).into_owned();
    let untracked = git(&["ls-files", "--others", "--exclude-standard", "-z"])?;
    for file in String::from_utf8_lossy(&untracked.stdout).split('\0').filter(|f| !f.is_empty()) {
        // `--no-index` exits 1 when the files differ: its output is what counts.
        let added = git(&["diff", "--no-color", "--no-ext-diff", "--no-index", "--", "/dev/null", file])?;
        text.push_str(&String::from_utf8_lossy(&added.stdout));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_is_numbered_from_its_hunk_headers() {
        let patch = FilePatch::new(
            "/w/README.md",
            "update",
            "@@ -2,3 +2,3 @@\n \n-A demo.\n+A demo, tidied.\n x\n",
            "/w".as_ref(),
        );
        assert_eq!(patch.path, "README.md");
        let lines: Vec<(usize, char, &str)> = patch.lines.iter().map(|l| (l.number, l.sign, l.text.as_str())).collect();
        assert_eq!(lines, [(2, ' ', ""), (3, '-', "A demo."), (3, '+', "A demo, tidied."), (4, ' ', "x")]);
        assert_eq!(patch.counts(), (1, 1));
    }

    #[test]
    fn added_and_deleted_files_are_their_whole_text() {
        let added = FilePatch::new("/elsewhere/new.md", "add", "# Usage\n\nRun it.\n", "/w".as_ref());
        assert_eq!(added.path, "/elsewhere/new.md");
        assert_eq!(added.counts(), (3, 0));
        assert_eq!(added.lines[2], DiffLine { number: 3, sign: '+', text: "Run it.".into() });
        assert_eq!(FilePatch::new("/w/old", "delete", "old\n", "/w".as_ref()).counts(), (0, 1));
    }

    #[test]
    fn the_workspace_diff_has_tracked_changes_then_untracked_files() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let status = std::process::Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args(["-c", "user.name=t", "-c", "user.email=t@t"])
                .args(args)
                .output()
                .unwrap();
            assert!(status.status.success(), "{status:?}");
        };
        assert_eq!(workspace_diff(dir.path()), Err("not inside a git repository".into()));
        git(&["init", "-q"]);
        std::fs::write(dir.path().join("a.txt"), "one\n").unwrap();
        git(&["add", "a.txt"]);
        git(&["commit", "-qm", "a"]);
        std::fs::write(dir.path().join("a.txt"), "two\n").unwrap();
        std::fs::write(dir.path().join("new.txt"), "fresh\n").unwrap();
        let diff = workspace_diff(dir.path()).unwrap();
        let tracked = diff.find("-one\n+two\n").expect("the tracked change");
        let untracked = diff.find("+fresh\n").expect("the untracked file");
        assert!(tracked < untracked, "{diff}");
        assert!(diff.contains("new file mode"), "{diff}");
    }
}
