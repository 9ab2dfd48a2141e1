//! Reading a shell command's script as a list of plain commands, the way upstream reads it to propose a rule when it
//! asks for approval (its `proposedExecpolicyAmendment`): with tree-sitter's bash grammar, accepting only literal
//! words and quoted strings without expansions, joined by `&&`, `||`, `;` and `|`. Anything else (a redirection, a
//! heredoc, a variable, a substitution, a subshell, an assignment...) makes the script not plain.

use tree_sitter::{Node, Parser};

/// Named nodes a plain script may hold.
const PLAIN_KINDS: [&str; 11] = [
    "program",
    "list",
    "pipeline",
    "command",
    "command_name",
    "word",
    "number",
    "string",
    "string_content",
    "raw_string",
    "concatenation",
];

/// Operators and quotes a plain script may hold.
const PLAIN_TOKENS: [&str; 6] = ["&&", "||", ";", "|", "\"", "'"];

/// The commands of `argv` when it is a shell (`bash`, `zsh`, `sh`) run with `-c` or `-lc` on a plain script: each
/// command's words, in order. `None` for another argv, a script that is not plain, or an empty one.
pub fn plain_commands(argv: &[String]) -> Option<Vec<Vec<String>>> {
    let [shell, flag, script] = argv else { return None };
    let name = shell.rsplit('/').next().unwrap_or(shell);
    if !matches!(name, "bash" | "zsh" | "sh") || !matches!(flag.as_str(), "-c" | "-lc") {
        return None;
    }
    plain_script(script)
}

/// The commands of a plain script (see [`plain_commands`]).
pub fn plain_script(script: &str) -> Option<Vec<Vec<String>>> {
    let mut parser = Parser::new();
    parser.set_language(&tree_sitter_bash::LANGUAGE.into()).ok()?;
    let tree = parser.parse(script, None)?;
    let root = tree.root_node();
    if root.has_error() {
        return None;
    }
    let mut commands = Vec::new();
    let mut pending = vec![root];
    while let Some(node) = pending.pop() {
        if node.is_named() {
            if !PLAIN_KINDS.contains(&node.kind()) {
                return None;
            }
            if node.kind() == "command" {
                commands.push(node);
            }
        } else if !PLAIN_TOKENS.contains(&node.kind()) && !node.kind().trim().is_empty() {
            return None;
        }
        pending.extend(node.children(&mut node.walk()));
    }
    commands.sort_by_key(Node::start_byte);
    let commands: Vec<Vec<String>> =
        commands.into_iter().map(|command| words(command, script)).collect::<Option<_>>()?;
    (!commands.is_empty()).then_some(commands)
}

/// The literal commands of `argv` when it is a shell (`bash`, `zsh`, `sh`) run with `-c` or `-lc`, wherever they
/// stand in its script (lists, pipelines, loops, conditions, substitutions...): each command whose name is literal,
/// with its literal words (a word that is not, such as `"$X"`, is left out), in the order of the script. `None` for
/// another argv or a script with a syntax error. What upstream looks at to find a dangerous command in any script.
pub fn literal_commands(argv: &[String]) -> Option<Vec<Vec<String>>> {
    let [shell, flag, script] = argv else { return None };
    let name = shell.rsplit('/').next().unwrap_or(shell);
    if !matches!(name, "bash" | "zsh" | "sh") || !matches!(flag.as_str(), "-c" | "-lc") {
        return None;
    }
    let mut parser = Parser::new();
    parser.set_language(&tree_sitter_bash::LANGUAGE.into()).ok()?;
    let tree = parser.parse(script, None)?;
    let root = tree.root_node();
    if root.has_error() {
        return None;
    }
    let mut found = Vec::new();
    let mut pending = vec![root];
    while let Some(node) = pending.pop() {
        if node.kind() == "command" {
            found.push(node);
        }
        pending.extend(node.named_children(&mut node.walk()));
    }
    found.sort_by_key(Node::start_byte);
    let commands = found
        .into_iter()
        .filter_map(|command| {
            let mut words = Vec::new();
            let mut named = false;
            for child in command.named_children(&mut command.walk()) {
                if child.kind() == "command_name" {
                    words.push(literal(child.named_child(0)?, script)?);
                    named = true;
                } else if named && let Some(word) = literal(child, script) {
                    words.push(word);
                }
            }
            named.then_some(words)
        })
        .collect();
    Some(commands)
}

/// A command's words, quotes removed.
fn words(command: Node, script: &str) -> Option<Vec<String>> {
    command
        .named_children(&mut command.walk())
        .map(|child| match child.kind() {
            "command_name" => {
                let mut cursor = child.walk();
                let parts: Vec<Node> = child.named_children(&mut cursor).collect();
                match parts[..] {
                    [word] if word.kind() == "word" => literal(word, script),
                    _ => None,
                }
            }
            _ => literal(child, script),
        })
        .collect()
}

/// The text a word stands for: a literal word or number, a quoted string without expansions, or several of them
/// written together.
fn literal(node: Node, script: &str) -> Option<String> {
    let text = node.utf8_text(script.as_bytes()).ok()?;
    match node.kind() {
        "word" | "number" if node.named_child_count() == 0 => Some(text.to_string()),
        "raw_string" => Some(text.strip_prefix('\'')?.strip_suffix('\'')?.to_string()),
        "string" => {
            let mut content = String::new();
            for part in node.named_children(&mut node.walk()) {
                if part.kind() != "string_content" {
                    return None;
                }
                content.push_str(part.utf8_text(script.as_bytes()).ok()?);
            }
            Some(content)
        }
        "concatenation" => node.named_children(&mut node.walk()).map(|part| literal(part, script)).collect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bash(script: &str) -> Option<Vec<Vec<String>>> {
        plain_commands(&["/bin/bash".into(), "-lc".into(), script.into()])
    }

    fn commands(list: &[&[&str]]) -> Option<Vec<Vec<String>>> {
        Some(list.iter().map(|words| words.iter().map(|w| w.to_string()).collect()).collect())
    }

    #[test]
    fn plain_scripts_give_their_commands_in_order() {
        assert_eq!(bash("echo hooks configured"), commands(&[&["echo", "hooks", "configured"]]));
        assert_eq!(bash("ls && rm -rf x"), commands(&[&["ls"], &["rm", "-rf", "x"]]));
        assert_eq!(
            bash("cd .. && git status | head -1"),
            commands(&[&["cd", ".."], &["git", "status"], &["head", "-1"]])
        );
        assert_eq!(
            bash("git log | head -n 1; echo x"),
            commands(&[&["git", "log"], &["head", "-n", "1"], &["echo", "x"]])
        );
        assert_eq!(bash(r#"echo 'a b' "c d" --k="v""#), commands(&[&["echo", "a b", "c d", "--k=v"]]));
    }

    #[test]
    fn literal_commands_are_found_anywhere_in_a_script() {
        let literal = |script: &str| literal_commands(&["bash".into(), "-c".into(), script.into()]);
        assert_eq!(literal("rm -rf build 2>/dev/null || true"), commands(&[&["rm", "-rf", "build"], &["true"]]));
        assert_eq!(
            literal("for f in *.log; do rm -f \"$f\"; done"),
            commands(&[&["rm", "-f"]]),
            "the expansion is left out"
        );
        assert_eq!(literal("echo \"$(rm --force x)\""), commands(&[&["echo"], &["rm", "--force", "x"]]));
        assert_eq!(literal("if ("), None);
        assert_eq!(literal_commands(&["ls".into()]), None);
    }

    #[test]
    fn anything_more_is_not_plain() {
        for script in
            ["echo hi > out.txt", "cat <<EOF\nhi\nEOF", "echo \"$HOME\"", "echo $(date)", "(ls)", "A=1 ls", ""]
        {
            assert_eq!(bash(script), None, "{script:?}");
        }
        assert_eq!(plain_commands(&["python3".into(), "-c".into(), "print(1)".into()]), None);
    }
}
