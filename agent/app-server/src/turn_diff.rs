//! `turn/diff/updated`: what a turn's patches changed, as one git-style diff (`diff --git`, blob ids, unified hunks
//! with three lines of context) of each file from its text when the turn first touched it to its text now.

use std::path::{Path, PathBuf};

use rcodex_core::events::FileChange;

/// The files a turn's patches touched, each with its text before the turn touched it (`None`: it did not exist).
#[derive(Debug, Clone, Default)]
pub struct TurnDiff {
    files: Vec<(PathBuf, Option<String>)>,
}

impl TurnDiff {
    /// Takes a file change: the first one of a path keeps the path's text from before it.
    pub fn record(&mut self, change: &FileChange) {
        let before = if change.kind == "add" { None } else { change.before.clone() };
        self.touch(Path::new(&change.path), before);
        if let Some(destination) = &change.move_path {
            self.touch(Path::new(destination), None);
        }
    }

    fn touch(&mut self, path: &Path, before: Option<String>) {
        if !self.files.iter().any(|(p, _)| p == path) {
            self.files.push((path.to_path_buf(), before));
        }
    }

    /// The diff of every touched file against what it holds now; empty when nothing differs. A file under
    /// `display_root` (the thread's working directory) is named relative to it, as upstream names it; others by their
    /// absolute path.
    pub fn render(&self, display_root: &Path) -> String {
        let mut out = String::new();
        for (path, before) in &self.files {
            let now = std::fs::read_to_string(path).ok();
            let shown = path.strip_prefix(display_root).unwrap_or(path);
            out.push_str(&file_diff(&shown.display().to_string(), before.as_deref(), now.as_deref()));
        }
        out
    }
}

const NO_BLOB: &str = "0000000000000000000000000000000000000000";

/// Git's id of a blob holding `text`.
fn blob_id(text: &str) -> String {
    let mut hasher = sha1_smol::Sha1::new();
    hasher.update(format!("blob {}\0", text.len()).as_bytes());
    hasher.update(text.as_bytes());
    hasher.digest().to_string()
}

/// One file's part of the diff.
fn file_diff(path: &str, before: Option<&str>, after: Option<&str>) -> String {
    if before == after {
        return String::new();
    }
    let mut out = format!("diff --git a/{path} b/{path}\n");
    match (before, after) {
        (None, Some(after)) => out.push_str(&format!(
            "new file mode 100644\nindex {NO_BLOB}..{}\n--- /dev/null\n+++ b/{path}\n",
            blob_id(after)
        )),
        (Some(before), None) => out.push_str(&format!(
            "deleted file mode 100644\nindex {}..{NO_BLOB}\n--- a/{path}\n+++ /dev/null\n",
            blob_id(before)
        )),
        (Some(before), Some(after)) => {
            out.push_str(&format!("index {}..{} 100644\n--- a/{path}\n+++ b/{path}\n", blob_id(before), blob_id(after)))
        }
        (None, None) => return String::new(),
    }
    out.push_str(&hunks(before.unwrap_or_default(), after.unwrap_or_default()));
    out
}

/// The unified hunks between two texts, with three lines of context and git's hunk headers.
fn hunks(before: &str, after: &str) -> String {
    let diff = similar::TextDiff::from_lines(before, after);
    let mut out = String::new();
    for group in diff.grouped_ops(3) {
        let (first, last) = (&group[0], &group[group.len() - 1]);
        let old = first.old_range().start..last.old_range().end;
        let new = first.new_range().start..last.new_range().end;
        out.push_str(&format!("@@ -{} +{} @@\n", range(old), range(new)));
        for op in &group {
            for change in diff.iter_changes(op) {
                let sign = match change.tag() {
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                    similar::ChangeTag::Equal => ' ',
                };
                let line = change.value();
                out.push(sign);
                out.push_str(line);
                if !line.ends_with('\n') {
                    out.push_str("\n\\ No newline at end of file\n");
                }
            }
        }
    }
    out
}

/// A hunk's range as git writes it: `START,LEN`, `START` alone for one line, `START-1,0` for none.
fn range(lines: std::ops::Range<usize>) -> String {
    match lines.len() {
        0 => format!("{},0", lines.start),
        1 => format!("{}", lines.start + 1),
        n => format!("{},{n}", lines.start + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_reads_as_git_shows_it() {
        assert_eq!(
            file_diff("/w/notes.txt", None, Some("hello\n")),
            "diff --git a//w/notes.txt b//w/notes.txt\nnew file mode 100644\nindex 0000000000000000000000000000000000000000..ce013625030ba8dba906f756967f9e9ca394464a\n--- /dev/null\n+++ b//w/notes.txt\n@@ -0,0 +1 @@\n+hello\n"
        );
    }

    #[test]
    fn an_update_keeps_three_lines_of_context() {
        let before = "1\n2\n3\n4\n5\n6\n7\n8\n";
        let after = "1\n2\n3\n4\nfive\n6\n7\n8\n";
        let diff = file_diff("/w/f", Some(before), Some(after));
        assert!(
            diff.contains("\n--- a//w/f\n+++ b//w/f\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"),
            "{diff}"
        );
        assert_eq!(file_diff("/w/f", Some("same\n"), Some("same\n")), "");
        assert!(file_diff("/w/f", Some("gone\n"), None).contains("deleted file mode 100644\n"));
    }

    #[test]
    fn files_under_the_working_directory_are_named_relative_to_it() {
        let root = tempfile::tempdir().unwrap();
        let cwd = root.path().join("workspace");
        std::fs::create_dir_all(&cwd).unwrap();
        let (inside, outside) = (cwd.join("b.txt"), root.path().join("shared.txt"));
        let mut diff = TurnDiff::default();
        for path in [&inside, &outside] {
            std::fs::write(path, "beta\n").unwrap();
            let path = path.display().to_string();
            diff.record(&FileChange { path, kind: "add".into(), move_path: None, diff: String::new(), before: None });
        }
        let rendered = diff.render(&cwd);
        assert!(rendered.starts_with("diff --git a/b.txt b/b.txt\n"), "{rendered}");
        assert!(rendered.contains(&format!("diff --git a/{0} b/{0}\n", outside.display())), "{rendered}");
    }
}
