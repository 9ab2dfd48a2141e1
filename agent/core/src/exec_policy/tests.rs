use super::*;

fn policy(text: &str) -> Policy {
    let mut policy = Policy::default();
    policy.parse(Path::new("/home/u/.codex/rules/default.rules"), text).unwrap();
    policy
}

fn error(text: &str) -> RulesError {
    Policy::default().parse(Path::new("/r/default.rules"), text).unwrap_err()
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|w| w.to_string()).collect()
}

fn bash(script: &str) -> Vec<String> {
    words(&["/bin/bash", "-lc", script])
}

const NEVER: Situation = Situation { approval: ApprovalPolicy::Never, restricted: true, escalated: false };
const ON_REQUEST: Situation = Situation { approval: ApprovalPolicy::OnRequest, restricted: true, escalated: false };

const RULES: &str = r#"
# Rules for this machine.
prefix_rule(
    pattern = ["git", "push"],
    decision = "forbidden",
    justification = "Pushing is not allowed here; open a pull request instead.",
)

prefix_rule(pattern = ["rm"], decision = "forbidden")
prefix_rule(pattern = ["git", ["reset", "clean"]], decision = "forbidden", justification = 'Destructive.')
prefix_rule(pattern = ["git", "commit"], decision = "prompt")
prefix_rule(["touch", "created.txt"])  # positional, allow by default
"#;

#[test]
fn rules_are_read_with_their_decisions_alternatives_and_justifications() {
    let p = policy(RULES);
    assert_eq!(p.rules.len(), 5);
    let push = p.rule_matches(&words(&["git", "push", "origin", "main"]));
    assert_eq!(
        push,
        [RuleMatch {
            prefix: words(&["git", "push"]),
            decision: Decision::Forbidden,
            justification: Some("Pushing is not allowed here; open a pull request instead.".into()),
        }]
    );
    assert_eq!(p.rule_matches(&words(&["git", "clean", "-fd"]))[0].justification.as_deref(), Some("Destructive."));
    assert_eq!(p.rule_matches(&words(&["git", "reset"]))[0].prefix, words(&["git", "reset"]));
    assert!(p.rule_matches(&words(&["git", "status"])).is_empty());
    // A prefix must be whole: `git` alone is not `git push`.
    assert!(p.rule_matches(&words(&["git"])).is_empty());
    assert_eq!(p.rule_matches(&words(&["touch", "created.txt"]))[0].decision, Decision::Allow);
    assert!(p.rule_matches(&words(&["touch", "other.txt"])).is_empty());
}

#[test]
fn names_none_alternative_programs_and_triple_quoted_strings() {
    let p = policy(
        "GIT = \"git\"\nprefix_rule(pattern = [[GIT, \"hub\"], \"push\"], decision = \"prompt\", justification = None)\n\
         prefix_rule(pattern=['ls'], justification='''a\nb''');",
    );
    assert_eq!(p.rule_matches(&words(&["hub", "push"]))[0].decision, Decision::Prompt);
    assert_eq!(p.rule_matches(&words(&["git", "push"]))[0].justification, None);
    assert_eq!(p.rule_matches(&words(&["ls", "-l"]))[0].justification.as_deref(), Some("a\nb"));
}

#[test]
fn an_absolute_program_takes_the_rules_of_its_name_unless_a_host_executable_lists_other_paths() {
    let p = policy(r#"prefix_rule(pattern = ["git", "push"], decision = "forbidden")"#);
    let found = p.rule_matches(&words(&["/usr/bin/git", "push"]));
    assert_eq!(found[0].prefix, words(&["git", "push"]));
    let p = policy(
        r#"host_executable(name = "git", paths = ["/opt/git/bin/git"])
prefix_rule(pattern = ["git", "push"], decision = "forbidden")"#,
    );
    assert!(p.rule_matches(&words(&["/usr/bin/git", "push"])).is_empty());
    assert_eq!(p.rule_matches(&words(&["/opt/git/bin/git", "push"])).len(), 1);
}

#[test]
fn errors_name_the_line_of_the_fault() {
    // An unknown decision: the line where its call starts, as upstream reports it.
    let e = error(
        "# c\nprefix_rule(pattern = [\"git\"], decision = \"forbidden\")\n\nprefix_rule(\n    pattern = [\"rm\"],\n    decision = \"deny\",\n)\n",
    );
    assert_eq!((e.line, e.path.as_path()), (4, Path::new("/r/default.rules")));
    assert!(e.message.contains("deny"), "{e:?}");
    // A missing comma: the line of the token that does not fit.
    let e = error("prefix_rule(\n    pattern = [\"rm\"]\n    decision = \"prompt\",\n)\n");
    assert_eq!(e.line, 3, "{e:?}");
    assert!(e.message.contains("`decision`"), "{e:?}");
    assert_eq!(error("prefix_rule(pattern = [\"a\"], justification = \"  \")").line, 1);
    assert_eq!(error("\n\nprefix_rule(pattern = [\"a])").line, 3);
    assert_eq!(error("prefix_rule(pattern = [])").message, "`pattern` cannot be empty");
    assert!(error("prefix_rule(pattern = [\"a\"], decison = \"allow\")").message.contains("decison"));
    assert!(error("\nnetwork_rule(host = \"x\")").message.contains("network_rule"));
    assert_eq!(error("\nnetwork_rule(host = \"x\")").line, 2);
    assert!(error("prefix_rule(pattern = [UNDEFINED])").message.contains("UNDEFINED"));
    assert!(error("host_executable(name = \"git\", paths = [\"bin/git\"])").message.contains("absolute"));
    assert!(error("prefix_rule(pattern = [\"a\"]) prefix_rule(pattern = [\"b\"])").message.contains("end of the line"));
}

#[test]
fn match_and_not_match_examples_are_checked_when_the_file_is_read() {
    let ok = "prefix_rule(pattern = [\"git\", [\"push\", \"fetch\"]], match = [[\"git\", \"push\"], \"git fetch 'origin main'\"], not_match = [\"git status\"])";
    policy(ok);
    let e = error("\nprefix_rule(pattern = [\"git\", \"push\"], match = [\"git pull\"])");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("git pull"), "{e:?}");
    let e = error("prefix_rule(pattern = [\"git\"], not_match = [[\"git\", \"status\"]])");
    assert!(e.message.contains("git status"), "{e:?}");
    assert_eq!(shell_words("a 'b c' \"d\\\"e\" f\\ g"), Some(words(&["a", "b c", "d\"e", "f g"])));
    assert_eq!(shell_words("'open"), None);
}

#[test]
fn a_script_is_judged_by_its_plain_commands_the_strictest_decision_winning() {
    let p = policy(RULES);
    let judge =
        |script: &str, situation| p.judge(&bash(script), &rcodex_exec::display_command(&bash(script)), situation);
    assert_eq!(judge("ls -l", NEVER), Verdict::Unmatched);
    assert!(matches!(judge("git status --short && git clean -fd", NEVER), Verdict::Forbidden(_)));
    assert!(matches!(judge("git commit -m x", NEVER), Verdict::Forbidden(_)));
    assert!(matches!(judge("git commit -m x", ON_REQUEST), Verdict::Prompt { .. }));
    // Forbidden wins over prompt.
    assert!(matches!(judge("git commit -m x; rm -f y", ON_REQUEST), Verdict::Forbidden(_)));
    // Every command allowed by a rule: outside the sandbox; one unmatched: in it.
    assert_eq!(judge("touch created.txt", NEVER), Verdict::Allowed { outside_sandbox: true });
    assert_eq!(judge("touch created.txt && ls", NEVER), Verdict::Allowed { outside_sandbox: false });
    // An escalation under on-request with an unmatched command asks the usual way.
    let escalated = Situation { escalated: true, ..ON_REQUEST };
    assert_eq!(judge("touch created.txt && ls", escalated), Verdict::Unmatched);
    assert_eq!(judge("touch created.txt", escalated), Verdict::Allowed { outside_sandbox: true });
    // A script that is not plain is its argv: no rule for `/bin/bash`.
    assert_eq!(judge("rm x > y", NEVER), Verdict::Unmatched);
    assert_eq!(Policy::default().judge(&bash("rm x"), "rm x", NEVER), Verdict::Unmatched);
}

#[test]
fn the_model_reads_upstreams_rejections() {
    let p = policy(RULES);
    let text =
        |script: &str, situation| match p.judge(&bash(script), &rcodex_exec::display_command(&bash(script)), situation)
        {
            Verdict::Forbidden(text) => text,
            other => panic!("{other:?}"),
        };
    // As recorded in exec-policy-forbidden and exec-policy-prompt.
    assert_eq!(
        text("git push origin main", NEVER),
        r#"exec_command failed: CreateProcess { message: "Rejected(\"`/bin/bash -lc 'git push origin main'` rejected: Pushing is not allowed here; open a pull request instead.\")" }"#
    );
    assert_eq!(
        text("rm notes.txt", NEVER),
        r#"exec_command failed: CreateProcess { message: "Rejected(\"`/bin/bash -lc 'rm notes.txt'` rejected: policy forbids commands starting with `rm`\")" }"#
    );
    assert_eq!(
        text("git commit -m x", NEVER),
        r#"exec_command failed: CreateProcess { message: "Rejected(\"approval required by policy, but AskForApproval is set to Never\")" }"#
    );
    // A quote in the command is escaped twice, as upstream's nested Debug texts escape it.
    assert!(text("rm \"a b\"", NEVER).contains(r#"Rejected(\"`/bin/bash -lc 'rm \\\"a b\\\"'` rejected"#));
    let Verdict::Prompt { reason } = p.judge(&bash("git commit -m x"), "/bin/bash -lc 'git commit -m x'", ON_REQUEST)
    else {
        panic!()
    };
    assert_eq!(reason, "`/bin/bash -lc 'git commit -m x'` requires approval by policy");
}

#[test]
fn a_load_error_is_told_in_upstreams_frame() {
    let e = error("\n\nprefix_rule(pattern = [\"rm\"], decision = \"deny\")");
    assert_eq!(
        e.to_string(),
        "Error loading rules:\n/r/default.rules:3: error: invalid decision: deny (problem is on or around line 3)"
    );
}

#[test]
fn rules_files_are_read_in_name_order_and_a_missing_directory_is_no_rules() {
    let home = tempfile::tempdir().unwrap();
    assert!(Policy::load(home.path()).unwrap().is_empty());
    let dir = home.path().join("rules");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("b.rules"), "prefix_rule(pattern = [\"b\"])").unwrap();
    std::fs::write(dir.join("a.rules"), "prefix_rule(pattern = [\"a\"])").unwrap();
    std::fs::write(dir.join("notes.txt"), "not rules").unwrap();
    let p = Policy::load(home.path()).unwrap();
    assert_eq!(p.rules.iter().map(|r| r.program.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    std::fs::write(dir.join("c.rules"), "prefix_rule(").unwrap();
    let e = Policy::load(home.path()).unwrap_err();
    assert_eq!(e.path, dir.join("c.rules"));
}

#[test]
fn a_forced_rm_is_dangerous_behind_sudo_env_trap_and_shells() {
    let forced = |list: &[&str]| is_forced_rm(&words(list), 0);
    assert!(forced(&["rm", "-rf", "/"]));
    assert!(forced(&["/bin/rm", "-fr", "x"]));
    assert!(forced(&["rm", "-r", "-f", "x"]));
    assert!(forced(&["rm", "x", "--force"]));
    assert!(forced(&["sudo", "rm", "-rf", "x"]));
    assert!(forced(&["env", "-i", "A=1", "rm", "-f", "x"]));
    assert!(forced(&["trap", "rm -rf x", "EXIT"]));
    assert!(forced(&["bash", "-c", "ls && rm -f x"]));
    // In a script that is not plain too, wherever the command stands.
    assert!(forced(&["/bin/bash", "-lc", "rm -rf build 2>/dev/null || true"]));
    assert!(forced(&["bash", "-lc", "for f in *.log; do rm -f \"$f\"; done"]));
    assert!(!forced(&["bash", "-lc", "rm -r build 2>/dev/null"]));
    assert!(!forced(&["rm", "-r", "x"]));
    assert!(!forced(&["rm", "--", "-f"]));
    assert!(!forced(&["rm", "--recursive", "x"]));
    assert!(!forced(&["git", "rm", "-f", "x"]));
    assert!(!forced(&["echo", "rm", "-f"]));
    // Wrappers nested too deep count as dangerous, as upstream's fail closed.
    let deep: Vec<String> = std::iter::repeat_n("env", 10).chain(["ls"]).map(String::from).collect();
    assert!(is_forced_rm(&deep, 0));
}

#[test]
fn a_forced_rm_no_rule_matches_is_refused_under_never_and_asks_under_on_request() {
    let none = Policy::default();
    let display = |script: &str| rcodex_exec::display_command(&bash(script));
    let Verdict::Forbidden(text) = none.judge(&bash("ls && rm -f x"), &display("ls && rm -f x"), NEVER) else {
        panic!()
    };
    // As recorded in exec-policy-dangerous.
    assert_eq!(
        text,
        r#"exec_command failed: CreateProcess { message: "Rejected(\"`/bin/bash -lc 'ls && rm -f x'` rejected: rm -f style commands are not permitted. Use a safer approach\")" }"#
    );
    // Under on-request it asks, proposing the dangerous command (app-exec-policy-dangerous).
    assert_eq!(
        none.judge(&bash("ls && rm -rf y"), &display("ls && rm -rf y"), ON_REQUEST),
        Verdict::Ask { proposed: words(&["rm", "-rf", "y"]) }
    );
    // An escalation asks the usual way; a rule that matches decides instead of the heuristics.
    let escalated = Situation { escalated: true, ..ON_REQUEST };
    assert_eq!(none.judge(&bash("rm -f x"), &display("rm -f x"), escalated), Verdict::Unmatched);
    let allowing = policy(r#"prefix_rule(pattern = ["rm", "-f"], decision = "allow")"#);
    assert_eq!(
        allowing.judge(&bash("rm -f x"), &display("rm -f x"), NEVER),
        Verdict::Allowed { outside_sandbox: true }
    );
    assert_eq!(none.judge(&bash("rm x"), &display("rm x"), NEVER), Verdict::Unmatched);
    // A script that is not plain is judged whole: refused, or asked about proposing its argv.
    let script = "rm -rf build 2>/dev/null || true";
    assert!(matches!(none.judge(&bash(script), &display(script), NEVER), Verdict::Forbidden(_)));
    assert_eq!(none.judge(&bash(script), &display(script), ON_REQUEST), Verdict::Ask { proposed: bash(script) });
}
