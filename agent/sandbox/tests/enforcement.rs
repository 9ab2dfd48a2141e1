//! The sandbox enforced on real processes, through the real launcher.
//!
//! These tests run as whoever runs `cargo test`. As root, a write that gets through would not be stopped by
//! file permissions, so a refusal proves the mounts refuse it; the unprivileged variants run the same
//! through `setpriv` as an unprivileged user, whose sandbox is built from an unprivileged user namespace.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{LAUNCHER, Run, open_to_everyone, scratch};
use rcodex_sandbox::{SandboxPolicy, WorkspaceWriteOptions, command_argv};

fn workspace_write(options: WorkspaceWriteOptions) -> SandboxPolicy {
    SandboxPolicy::WorkspaceWrite(options)
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn check_workspace_write(as_nobody: bool) {
    let base = scratch();
    let ws = base.path().join("ws");
    let outside = base.path().join("outside");
    std::fs::create_dir_all(ws.join(".git")).unwrap();
    std::fs::create_dir(&outside).unwrap();
    for dir in [base.path(), &ws, &ws.join(".git"), &outside] {
        open_to_everyone(dir);
    }
    let policy = workspace_write(WorkspaceWriteOptions::default());
    let mut run = Run::new(&policy, &ws);
    if as_nobody {
        run = run.unprivileged();
    }

    let inside = run.run("echo data > created.txt && mkdir -p src && mv created.txt src/ && cat src/created.txt");
    assert_eq!((inside.code, inside.output.as_str()), (0, "data\n"));

    // `outside` is writable by everyone: only the sandbox stands in the way.
    let out = run.run(&format!("echo data > {}/x", outside.display()));
    assert_eq!(out.code, 1);
    assert_eq!(out.output, format!("/bin/bash: line 1: {}/x: Read-only file system\n", outside.display()));
    assert!(!outside.join("x").exists());

    let git = run.run("echo x > .git/config");
    assert_eq!(git.output, "/bin/bash: line 1: .git/config: Read-only file system\n");
    let codex = run.run("mkdir .codex; echo x > .codex/config.toml; ls -A");
    assert_eq!(
        codex.output,
        "mkdir: cannot create directory ‘.codex’: File exists\n\
         /bin/bash: line 1: .codex/config.toml: Read-only file system\n.agents\n.aws\n.codex\n.git\nsrc\n"
    );
    // The empty directories shown for missing carve-outs are gone once the command is.
    let mut left: Vec<_> = std::fs::read_dir(&ws).unwrap().map(|e| e.unwrap().file_name()).collect();
    left.sort();
    assert_eq!(left, [".git", "src"]);

    let across = run.run(&format!("mv src/created.txt {}/moved", outside.display()));
    assert_eq!(
        across.output,
        format!(
            "mv: inter-device move failed: 'src/created.txt' to '{}/moved'; unable to remove target: Read-only file \
             system\n",
            outside.display()
        )
    );
    let tmp = run.run("f=$(mktemp /tmp/rcodex-sandbox-test.XXXXXX) && echo t > $f && cat $f && rm $f");
    assert_eq!((tmp.code, tmp.output.as_str()), (0, "t\n"));
}

#[test]
fn workspace_write_writes_the_workspace_and_tmp_and_nothing_else() {
    check_workspace_write(false);
}

#[test]
fn workspace_write_holds_for_an_unprivileged_user() {
    check_workspace_write(true);
}

fn check_read_only(as_nobody: bool) {
    let base = scratch();
    let ws = base.path().join("ws");
    std::fs::create_dir(&ws).unwrap();
    std::fs::write(ws.join("file.txt"), "keep\n").unwrap();
    // Writable by everyone: only the sandbox stands in the way (else nobody would read EACCES first).
    open_to_everyone(&ws.join("file.txt"));
    open_to_everyone(base.path());
    open_to_everyone(&ws);
    let home = base.path().display().to_string();
    let mut run = Run::new(&SandboxPolicy::ReadOnly, &ws).env("HOME", &home);
    if as_nobody {
        run = run.unprivileged();
    }
    for (write, target) in [
        ("echo x > new.txt", "new.txt"),
        ("echo x >> file.txt", "file.txt"),
        ("echo x > /tmp/rcodex-sandbox-ro", "/tmp/rcodex-sandbox-ro"),
        ("echo x > \"$HOME/x\"", &format!("{home}/x")),
        ("echo x > /var/tmp/rcodex-sandbox-ro", "/var/tmp/rcodex-sandbox-ro"),
    ] {
        let outcome = run.run(write);
        assert_eq!(outcome.code, 1, "{write}");
        assert_eq!(outcome.output, format!("/bin/bash: line 1: {target}: Read-only file system\n"), "{write}");
    }
    let others = run.run("rm file.txt; mkdir d; touch -c file.txt; chmod 600 file.txt; ln -s a b");
    assert_eq!(
        others.output,
        "rm: cannot remove 'file.txt': Read-only file system\n\
         mkdir: cannot create directory ‘d’: Read-only file system\n\
         touch: setting times of 'file.txt': Read-only file system\n\
         chmod: changing permissions of 'file.txt': Read-only file system\n\
         ln: failed to create symbolic link 'b': Read-only file system\n"
    );
    assert_eq!(std::fs::read_to_string(ws.join("file.txt")).unwrap(), "keep\n");
    assert!(!Path::new("/tmp/rcodex-sandbox-ro").exists() && !Path::new("/var/tmp/rcodex-sandbox-ro").exists());
    // Reading still works, and so does the sandbox's own /dev.
    let reads = run.run("cat file.txt && head -c 4 /etc/passwd && echo && echo x > /dev/null && echo ok");
    assert_eq!((reads.code, reads.output.as_str()), (0, "keep\nroot\nok\n"));
}

#[test]
fn read_only_refuses_every_write_with_erofs() {
    check_read_only(false);
}

#[test]
fn read_only_holds_for_an_unprivileged_user() {
    check_read_only(true);
}

#[test]
fn root_cannot_undo_the_sandbox() {
    let base = scratch();
    let run_policy = SandboxPolicy::ReadOnly;
    let run = Run::new(&run_policy, base.path());
    let attempt = run.run(
        "mount -o remount,rw / 2>&1 | head -1; unshare -Ur true; \
         grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status",
    );
    let expected_unshare =
        if is_root() { "unshare: write failed /proc/self/uid_map: Operation not permitted\n" } else { "" };
    assert_eq!(
        attempt.output,
        format!(
            "mount: /: permission denied.\n{expected_unshare}CapEff:\t0000000000000000\n\
             CapBnd:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n"
        )
    );
}

#[test]
fn the_network_is_closed_unless_allowed() {
    let base = scratch();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!("(echo hello > /dev/tcp/127.0.0.1/{port}) && echo connected");

    for closed in [SandboxPolicy::ReadOnly, workspace_write(WorkspaceWriteOptions::default())] {
        let outcome = Run::new(&closed, base.path()).run(&script);
        assert_eq!(outcome.code, 1);
        assert_eq!(
            outcome.output,
            format!(
                "/bin/bash: socket: Operation not permitted\n\
                 /bin/bash: line 1: /dev/tcp/127.0.0.1/{port}: Operation not permitted\n"
            )
        );
        let netns = Run::new(&closed, base.path()).run("awk 'NR > 2 {print $1}' /proc/net/dev");
        assert_eq!(netns.output, "lo:\n", "a network namespace of its own");
    }

    let open = workspace_write(WorkspaceWriteOptions { network_access: true, ..Default::default() });
    let accepted = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stream, &mut text).unwrap();
        text
    });
    let outcome = Run::new(&open, base.path()).run(&script);
    assert_eq!((outcome.code, outcome.output.as_str()), (0, "connected\n"));
    assert_eq!(accepted.join().unwrap(), "hello\n");
}

#[test]
fn extra_roots_are_writable_with_their_carve_outs_and_missing_ones_stay_missing() {
    let base = scratch();
    let ws = base.path().join("ws");
    let extra = base.path().join("extra");
    std::fs::create_dir_all(extra.join(".git")).unwrap();
    std::fs::create_dir(&ws).unwrap();
    let policy = workspace_write(WorkspaceWriteOptions {
        writable_roots: vec![extra.clone(), base.path().join("missing")],
        exclude_slash_tmp: true,
        exclude_tmpdir_env_var: true,
        ..Default::default()
    });
    let outcome = Run::new(&policy, &ws).run(&format!(
        "cd {} && echo e > file && cat file && ls -A && echo x > .git/x; echo x > ../missing/x; echo x > /tmp/x",
        extra.display()
    ));
    assert_eq!(
        outcome.output,
        "e\n.agents\n.aws\n.codex\n.git\nfile\n/bin/bash: line 1: .git/x: Read-only file system\n\
         /bin/bash: line 1: ../missing/x: No such file or directory\n\
         /bin/bash: line 1: /tmp/x: Read-only file system\n"
    );
    assert_eq!(std::fs::read_to_string(extra.join("file")).unwrap(), "e\n");
    assert!(!base.path().join("missing").exists());
}

#[test]
fn a_symlinked_carve_out_cannot_be_followed_or_replaced() {
    let base = scratch();
    let ws = base.path().join("ws");
    let target = base.path().join("target");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::create_dir(&target).unwrap();
    std::os::unix::fs::symlink(&target, ws.join(".codex")).unwrap();
    let policy = workspace_write(WorkspaceWriteOptions { exclude_slash_tmp: true, ..Default::default() });
    let outcome = Run::new(&policy, &ws).run("echo x > .codex/x; rm .codex; mkdir .codex; stat -c %F .codex");
    // The link is covered by an empty device node (/dev/null), which nothing can write through or remove.
    assert_eq!(
        outcome.output,
        "/bin/bash: line 1: .codex/x: Not a directory\nrm: cannot remove '.codex': Device or resource busy\n\
         mkdir: cannot create directory ‘.codex’: File exists\ncharacter special file\n"
    );
    assert!(std::fs::read_dir(&target).unwrap().next().is_none(), "{}", outcome.output);
    assert!(ws.join(".codex").symlink_metadata().unwrap().file_type().is_symlink(), "{}", outcome.output);
}

#[test]
fn commands_start_where_they_were_spawned_and_keep_their_exit_status() {
    let base = scratch();
    let ws = base.path().join("ws");
    std::fs::create_dir_all(ws.join("sub")).unwrap();
    let policy = workspace_write(WorkspaceWriteOptions::default());
    let mut run = Run::new(&policy, &ws);
    let sub = ws.join("sub");
    run.workdir = Some(&sub);
    let outcome = run.run("pwd && echo x > here && exit 7");
    assert_eq!((outcome.code, outcome.output), (7, format!("{}\n", sub.display())));
    assert!(sub.join("here").exists());
    assert_eq!(run.run("kill -TERM $$").code, 128 + libc::SIGTERM);
}

#[test]
fn danger_full_access_is_not_sandboxed() {
    let base = scratch();
    let policy = SandboxPolicy::DangerFullAccess;
    let argv: Vec<std::ffi::OsString> = vec!["true".into()];
    assert_eq!(command_argv(&policy, base.path(), Path::new(LAUNCHER), &argv), argv);
    let outcome = Run::new(&policy, base.path()).run("echo x > /var/tmp/$$.rcodex && rm /var/tmp/$$.rcodex && echo ok");
    assert_eq!(outcome.output, "ok\n");
}

#[test]
fn a_terminated_launcher_takes_its_command_down() {
    let base = scratch();
    let marker = base.path().join("still-running");
    let policy = workspace_write(WorkspaceWriteOptions::default());
    let running = Run::new(&policy, base.path()).spawn(&format!("sleep 2; touch {}", marker.display()));
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    // SAFETY: kill with the pid of our own child.
    unsafe { libc::kill(running.child.id() as i32, libc::SIGTERM) };
    let outcome = running.finish();
    assert_eq!(outcome.code, 128 + libc::SIGTERM);
    assert!(started.elapsed() < Duration::from_secs(1));
    std::thread::sleep(Duration::from_secs(2));
    assert!(!marker.exists(), "the command outlived its launcher");
}

#[test]
fn a_placeholder_outlives_the_first_of_two_sandboxes_using_it() {
    let base = scratch();
    let ws = base.path().join("ws");
    let go = base.path().join("go");
    std::fs::create_dir(&ws).unwrap();
    let policy = workspace_write(WorkspaceWriteOptions { exclude_slash_tmp: true, ..Default::default() });
    let second = Run::new(&policy, &ws)
        .spawn(&format!("while [ ! -e {} ]; do sleep 0.05; done; mkdir .codex; ls -A .codex | wc -l", go.display()));
    std::thread::sleep(Duration::from_millis(300));
    let first = Run::new(&policy, &ws).run("ls -d .codex");
    assert_eq!(first.output, ".codex\n");
    std::fs::File::create(&go).unwrap().flush().unwrap();
    let outcome = second.finish();
    assert_eq!(outcome.output, "mkdir: cannot create directory ‘.codex’: File exists\n0\n");
    assert!(!ws.join(".codex").exists());
}

fn no_user_namespaces(launcher_args: &[&str]) -> std::process::Output {
    // A user namespace of its own in which no further one may be made: what a kernel without them looks like.
    std::process::Command::new("unshare")
        .args([
            "-U",
            "--map-root-user",
            "sh",
            "-c",
            "echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\" \"$@\"",
        ])
        .arg(LAUNCHER)
        .args(launcher_args)
        .output()
        .unwrap()
}

#[test]
fn without_user_namespaces_sandboxed_commands_are_refused_as_upstream_refuses_them() {
    let base = scratch();
    let cwd = base.path().to_str().unwrap();
    let refused =
        no_user_namespaces(&["sandbox-launcher", "--cwd", cwd, "--mode", "workspace-write", "--", "echo", "hi"]);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr),
        "bwrap: Creating new namespace failed: nesting depth or /proc/sys/user/max_*_namespaces exceeded (ENOSPC)\n"
    );
    assert!(refused.stdout.is_empty());
    let unsandboxed =
        no_user_namespaces(&["sandbox-launcher", "--cwd", cwd, "--mode", "danger-full-access", "--", "echo", "hi"]);
    assert_eq!((unsandboxed.status.code(), unsandboxed.stdout.as_slice()), (Some(0), b"hi\n".as_slice()));

    let check = no_user_namespaces(&["sandbox-launcher", "--check-support"]);
    assert_eq!(check.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&check.stdout),
        "Creating new namespace failed: nesting depth or /proc/sys/user/max_*_namespaces exceeded (ENOSPC)\n"
    );
    assert_eq!(rcodex_sandbox::check_support(Path::new(LAUNCHER)), Ok(()));
    let missing = rcodex_sandbox::check_support(Path::new("/nonexistent/launcher")).unwrap_err();
    assert!(missing.to_string().starts_with("cannot run the sandbox launcher /nonexistent/launcher"), "{missing}");
}
