//! Patches sent through a shell command instead of the patch tool. Models often write
//! `apply_patch <<'EOF' … EOF` as a command; upstream recognizes that script (and `cd DIR && apply_patch <<'EOF'`)
//! and applies the patch itself rather than running the shell, and it refuses a command that is a bare patch. The
//! script is read with the bash grammar upstream reads it with (tree-sitter-bash), so that the same scripts match.

use tree_sitter::{Node, Parser};

use crate::parser::parse;

/// What a shell command line has to do with patches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellPatch {
    /// The script is exactly a heredoc fed to `apply_patch` (or `applypatch`), possibly after `cd DIR &&`.
    Heredoc {
        /// The heredoc's text, without its final line endings.
        patch: String,
        /// The directory given to `cd`, as written: relative ones resolve against the command's directory.
        workdir: Option<String>,
    },
    /// The script is itself a patch: upstream refuses it with [`BARE_PATCH_ERROR`] rather than running it.
    Bare,
}

/// What the model reads back for a [`ShellPatch::Bare`] command.
pub const BARE_PATCH_ERROR: &str = "apply_patch verification failed: patch detected without explicit call to \
                                    apply_patch. Rerun as [\"apply_patch\", \"<patch>\"]";

const PATCH_COMMANDS: [&str; 2] = ["apply_patch", "applypatch"];

/// Whether `argv` (a shell, `-c` or `-lc`, a script) carries a patch; `None` for any other command, which runs as
/// it is.
pub fn shell_patch(argv: &[String]) -> Option<ShellPatch> {
    let [shell, flag, script] = argv else { return None };
    let name = shell.rsplit('/').next().unwrap_or(shell);
    let name = name.split_once('.').map_or(name, |(stem, _)| if stem.is_empty() { name } else { stem });
    if !matches!(name.to_ascii_lowercase().as_str(), "bash" | "zsh" | "sh") || !matches!(flag.as_str(), "-c" | "-lc") {
        return None;
    }
    if parse(script).is_ok() {
        return Some(ShellPatch::Bare);
    }
    heredoc_invocation(script)
}

/// The patch and `cd` directory of a script that is one `[cd DIR &&] apply_patch <<MARK` statement.
fn heredoc_invocation(script: &str) -> Option<ShellPatch> {
    // Most commands are not patches: spare them the parse (it would only confirm it).
    if !PATCH_COMMANDS.iter().any(|command| script.contains(command)) {
        return None;
    }
    let mut parser = Parser::new();
    parser.set_language(&tree_sitter_bash::LANGUAGE.into()).ok()?;
    let tree = parser.parse(script, None)?;
    let text = |node: Node| node.utf8_text(script.as_bytes()).ok();

    let root = tree.root_node();
    let [statement] = named_children(root)[..] else { return None };
    if statement.kind() != "redirected_statement" {
        return None;
    }
    let heredoc = statement
        .children_by_field_name("redirect", &mut statement.walk())
        .find_map(|redirect| heredoc_body(redirect))?;
    let body = statement.child_by_field_name("body")?;
    let workdir = match body.kind() {
        // The command alone: no arguments after its name.
        "command" => {
            let [name] = named_children(body)[..] else { return None };
            is_patch_command(name, text)?;
            None
        }
        "list" => {
            let [cd, apply] = named_children(body)[..] else { return None };
            let operator = body.child(1)?;
            if operator.kind() != "&&" || operator.end_byte() > apply.start_byte() {
                return None;
            }
            is_patch_command(apply.child_by_field_name("name")?, text)?;
            Some(cd_directory(cd, text)?)
        }
        _ => return None,
    };
    let patch = text(heredoc)?.trim_end_matches('\n').to_string();
    Some(ShellPatch::Heredoc { patch, workdir })
}

fn named_children(node: Node) -> Vec<Node> {
    node.named_children(&mut node.walk()).collect()
}

/// `Some(())` when `name` (a `command_name`) is one of the patch commands.
fn is_patch_command<'a>(name: Node<'a>, text: impl Fn(Node<'a>) -> Option<&'a str>) -> Option<()> {
    let [word] = named_children(name)[..] else { return None };
    (name.kind() == "command_name" && word.kind() == "word" && PATCH_COMMANDS.contains(&text(word)?)).then_some(())
}

/// The body of a plain heredoc redirect: its start, body and end, nothing more.
fn heredoc_body(redirect: Node) -> Option<Node> {
    let [start, body, end] = named_children(redirect)[..] else { return None };
    let shape = [redirect.kind(), start.kind(), body.kind(), end.kind()];
    (shape == ["heredoc_redirect", "heredoc_start", "heredoc_body", "heredoc_end"]).then_some(body)
}

/// The directory of `cd DIR`, with one argument: a word, a double-quoted string without expansions, or a
/// single-quoted one.
fn cd_directory<'a>(command: Node<'a>, text: impl Fn(Node<'a>) -> Option<&'a str>) -> Option<String> {
    let [name, argument] = named_children(command)[..] else { return None };
    if command.kind() != "command" || name.kind() != "command_name" || text(name)? != "cd" {
        return None;
    }
    match argument.kind() {
        "word" => Some(text(argument)?.to_string()),
        "string" => match named_children(argument)[..] {
            [content] if content.kind() == "string_content" => Some(text(content)?.to_string()),
            _ => None,
        },
        "raw_string" => Some(text(argument)?.strip_prefix('\'')?.strip_suffix('\'')?.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATCH: &str = "*** Begin Patch\n*** Add File: a.txt\n+a\n*** End Patch";

    fn bash(script: &str) -> Option<ShellPatch> {
        shell_patch(&["/bin/bash".into(), "-lc".into(), script.into()])
    }

    fn heredoc(workdir: Option<&str>) -> Option<ShellPatch> {
        Some(ShellPatch::Heredoc { patch: PATCH.into(), workdir: workdir.map(Into::into) })
    }

    #[test]
    fn a_heredoc_to_apply_patch_is_a_patch_whatever_its_marker() {
        for marker in ["'EOF'", "EOF", "\"EOF\"", "'PATCH'"] {
            let end = marker.trim_matches(['\'', '"']);
            assert_eq!(bash(&format!("apply_patch <<{marker}\n{PATCH}\n{end}\n")), heredoc(None), "{marker}");
        }
        assert_eq!(bash(&format!("applypatch <<'EOF'\n{PATCH}\nEOF")), heredoc(None));
    }

    #[test]
    fn cd_then_apply_patch_names_the_directory() {
        for (dir, written) in [("sub", "sub"), ("a/b c", "'a/b c'"), ("x y", "\"x y\""), ("../up", "../up")] {
            let script = format!("cd {written} && apply_patch <<'EOF'\n{PATCH}\nEOF\n");
            assert_eq!(bash(&script), heredoc(Some(dir)), "{script}");
        }
    }

    #[test]
    fn anything_more_or_else_runs_as_a_command() {
        let others = [
            format!("echo hi && apply_patch <<'EOF'\n{PATCH}\nEOF\n"),
            format!("apply_patch <<'EOF'\n{PATCH}\nEOF\necho done\n"),
            format!("cd sub || apply_patch <<'EOF'\n{PATCH}\nEOF\n"),
            format!("cd a b && apply_patch <<'EOF'\n{PATCH}\nEOF\n"),
            format!("cd \"$HOME\" && apply_patch <<'EOF'\n{PATCH}\nEOF\n"),
            format!("apply_patch --dry-run <<'EOF'\n{PATCH}\nEOF\n"),
            format!("apply_patch '{PATCH}'"),
            format!("cat <<'EOF'\n{PATCH}\nEOF\n"),
            format!("apply_patch <<'EOF' > out.txt\n{PATCH}\nEOF\n"),
            "ls -la".to_string(),
        ];
        for script in others {
            assert_eq!(bash(&script), None, "{script}");
        }
    }

    #[test]
    fn a_bare_patch_is_refused_and_only_shells_count() {
        assert_eq!(bash(PATCH), Some(ShellPatch::Bare));
        assert_eq!(shell_patch(&["/usr/bin/zsh".into(), "-c".into(), PATCH.into()]), Some(ShellPatch::Bare));
        let script = format!("apply_patch <<'EOF'\n{PATCH}\nEOF\n");
        assert_eq!(shell_patch(&["/usr/bin/python3".into(), "-c".into(), script.clone()]), None);
        assert_eq!(shell_patch(&["/bin/bash".into(), "-x".into(), script.clone()]), None);
        assert_eq!(shell_patch(&["/bin/bash".into(), script]), None);
    }
}
