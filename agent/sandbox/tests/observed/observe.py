#!/usr/bin/env python3
"""Records what commands see inside upstream Codex's sandbox, into cases/<config>.json next to this script.

For each sandbox configuration below, this script writes a scenario whose model script calls `exec_command` once
per probe (in order, in one workspace), runs the pinned upstream on it with `parity record`, and keeps, per probe,
the exit code and the output exactly as the model read them in the next request, plus what the model was told
about the sandbox. Paths and ports that change from run to run are replaced by placeholders (see README.md).

    python3 observe.py [--codex BIN] [--parity BIN] [CONFIG ...]

Needs: the pinned binary (scripts/install-upstream.sh) and `cargo build -p parity-cli`. It creates and removes
/var/tmp/parity-sbx-* and /tmp/parity-sbx-*, the paths the probes write outside the workspace.
"""
import argparse, glob, json, os, re, shutil, subprocess, tempfile

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(ROOT, "../../../.."))
DEFAULT_CODEX = os.path.join(REPO, ".upstream/codex-0.169.0/node_modules/@openai/codex-linux-x64/vendor/"
                             "x86_64-unknown-linux-musl/bin/codex")

# Outside the workspace, outside /tmp, and outside the run directory `parity record` makes under /var/tmp.
TMPDIR = "/var/tmp/parity-sbx-tmpdir"
EXTRA = "/var/tmp/parity-sbx-extra"
# Sort before the workspace (/var/tmp/parity-runs/...), to tell sorted roots from roots in config order.
EARLY_TMPDIR = "/var/tmp/parity-a-sbx-tmpdir"
EARLY = "/var/tmp/parity-a-sbx-root"
MISSING = "/var/tmp/parity-sbx-missing"
OUTSIDE = "/var/tmp/parity-sbx-outside"
GITDIR = "/tmp/parity-sbx-gitdir"
LINKDIR = "/var/tmp/parity-sbx-linkdir"

WORKSPACE = {
    "tracked.txt": "tracked\n",
    "notes.txt": "notes\n",
    "data.txt": "some data\n",
    "run.sh": "echo run\n",
    "moveme.txt": "move me\n",
    "moveme2.txt": "move me too\n",
}
DOTDIR_WORKSPACE = dict(WORKSPACE, **{".agents/notes.md": "agents\n", ".codex/notes.md": "codex\n",
                                      ".aws/notes.md": "aws\n"})

CONFIGS = {
    "read-only": {"sandbox": "read-only"},
    "workspace-write": {"sandbox": "workspace-write"},
    "workspace-write-options": {
        "sandbox": "workspace-write",
        "config": {"sandbox_workspace_write": {"writable_roots": [EXTRA, MISSING], "network_access": True,
                                               "exclude_slash_tmp": True, "exclude_tmpdir_env_var": True}},
    },
    "workspace-write-dotdirs": {"sandbox": "workspace-write", "workspace": DOTDIR_WORKSPACE, "only": "dotdirs"},
    "workspace-write-order": {
        "sandbox": "workspace-write", "tmpdir": EARLY_TMPDIR, "only": "order",
        "config": {"sandbox_workspace_write": {"writable_roots": [EXTRA, EARLY]}},
    },
    # The workspace is a subdirectory of a git repository (Codex started in `sub/`).
    "workspace-write-subdir": {"sandbox": "workspace-write", "cwd": "sub", "only": "subdir",
                               "workspace": {"sub/file.txt": "in sub\n", "top.txt": "top\n"}},
    # A worktree-style `.git` file pointing at a git directory under /tmp, itself a writable root.
    "workspace-write-gitfile": {"sandbox": "workspace-write", "git": False, "only": "gitfile",
                                "workspace": {".git": f"gitdir: {GITDIR}\n", "file.txt": "file\n"}},
    # Codex started where it may not create user namespaces (max_user_namespaces = 0 in its own namespace).
    "workspace-write-no-userns": {
        "sandbox": "workspace-write", "only": "no-userns",
        "wrapper": "unshare -U --map-root-user sh -c 'echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\" \"$@\"'",
    },
    "danger-full-access-no-userns": {
        "sandbox": "danger-full-access", "only": "no-userns",
        "wrapper": "unshare -U --map-root-user sh -c 'echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\" \"$@\"'",
    },
    "danger-full-access": {"sandbox": "danger-full-access"},
}

SYSCALLS = dict(ptrace=101, process_vm_readv=310, process_vm_writev=311, io_uring_setup=425, io_uring_enter=426,
                io_uring_register=427, socket=41, socketpair=53, connect=42, accept=43, accept4=288, bind=49,
                listen=50, getsockname=51, getpeername=52, shutdown=48, sendto=44, sendmsg=46, sendmmsg=307,
                recvfrom=45, recvmsg=47, recvmmsg=299, getsockopt=55, setsockopt=54, unshare=272, setns=308,
                mount=165, umount2=166, pivot_root=155, chroot=161, open_tree=428, move_mount=429, fsopen=430,
                mount_setattr=442, bpf=321, perf_event_open=298, userfaultfd=323, keyctl=250, add_key=248,
                kexec_load=246, init_module=175, clone3=435, seccomp=317, landlock_create_ruleset=444)
# Each system call with arguments it rejects (-1 and nulls): EPERM where a seccomp filter denies it, the kernel's own
# error (EBADF, EFAULT, EINVAL...) where it reaches the kernel.
PY_SYSCALLS = ("import ctypes, errno; l = ctypes.CDLL(None, use_errno=True); l.syscall.restype = ctypes.c_long\n"
               f"for n, nr in {json.dumps(sorted(SYSCALLS.items(), key=lambda kv: kv[1]))}:\n"
               " r = l.syscall(ctypes.c_long(nr), ctypes.c_long(-1), ctypes.c_long(0), ctypes.c_long(0),"
               " ctypes.c_long(0), ctypes.c_long(0), ctypes.c_long(0))\n"
               " print(n, r if r >= 0 else errno.errorcode[ctypes.get_errno()])")

PY_LOCAL = ("import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
            "c = socket.create_connection(s.getsockname()); print('loopback inside ok')")

# (name, command, tags). Probes run in this order in one workspace, so later ones see what earlier ones did.
CASES = [
    ("ls_start", "ls -A", {"dotdirs", "no-userns", "subdir", "gitfile"}),
    ("sub_git_status", "git status --short", {"subdir"}),
    ("sub_git_mkdir", "mkdir .git && echo made", {"subdir"}),
    ("sub_ls_after", "ls -A", {"subdir"}),
    ("sub_parent_git", "echo x > ../.git/probe && echo wrote", {"subdir"}),
    ("gitfile_write", "echo x > .git && echo wrote", {"gitfile"}),
    ("gitdir_write", f"echo x > {GITDIR}/probe && echo wrote", {"gitfile"}),
    ("gitdir_ls", f"ls -A {GITDIR}", {"gitfile"}),
    ("ws_create", "echo data > created.txt && cat created.txt", {"no-userns"}),
    ("ws_mkdir", "mkdir newdir && echo made", set()),
    ("ws_rm", "rm tracked.txt && echo removed", set()),
    ("ws_rename", "mv notes.txt renamed.txt && echo renamed", set()),
    ("ws_chmod", "chmod +x run.sh && echo chmodded", set()),
    ("ws_truncate", ": > data.txt && echo truncated", set()),
    ("tmp_write", "echo t > /tmp/parity-sbx-probe && cat /tmp/parity-sbx-probe", {"no-userns"}),
    ("tmpdir_write", 'echo t > "$TMPDIR/probe" && cat "$TMPDIR/probe"', set()),
    ("home_write", 'echo h > "$HOME/probe" && echo wrote home', set()),
    ("outside_write", f"echo o > {OUTSIDE} && echo wrote outside", {"no-userns"}),
    ("parent_write", "echo p > ../parent-probe && echo wrote parent", set()),
    ("rename_to_tmp", "mv moveme.txt /tmp/parity-sbx-moved && cat /tmp/parity-sbx-moved", set()),
    ("rename_outside", f"mv moveme2.txt {OUTSIDE}-moved && echo moved", set()),
    ("symlink_out", f"ln -s {LINKDIR} escape && echo x > escape/probe && echo wrote via link", set()),
    ("symlink_git", "ln -s .git gitlink && echo x > gitlink/probe && echo wrote via gitlink", set()),
    ("hardlink", "ln /etc/hostname hostlink && echo linked", set()),
    ("git_write", "echo x > .git/probe && echo wrote", {"dotdirs"}),
    ("git_commit", "git -c user.name=p -c user.email=p@example.com commit -qam change && echo committed", set()),
    ("codex_mkdir", "mkdir .codex && echo made", {"dotdirs"}),
    ("codex_write", "echo x > .codex/config.toml && echo wrote", {"dotdirs"}),
    ("agents_mkdir", "mkdir .agents && echo made", {"dotdirs"}),
    ("agents_write", "mkdir -p .agents/skills && echo made", {"dotdirs"}),
    ("aws_mkdir", "mkdir .aws && echo made", {"dotdirs"}),
    ("aws_write", "echo x > .aws/credentials && echo wrote", {"dotdirs"}),
    ("ls_after", "ls -A", {"dotdirs"}),
    ("nested_git", "mkdir -p sub/.git && echo x > sub/.git/probe && echo wrote", set()),
    ("git_status", "git status --short", set()),
    ("ls_extra", f"ls -A {EXTRA}", {"order"}),
    ("ls_early", f"ls -A {EARLY}", {"order"}),
    ("tmp_metadata", "ls -A /tmp $TMPDIR | grep -E '^[.](git|codex|agents|aws)$'; echo listed", {"order"}),
    ("tmp_repo", "mkdir -p /tmp/parity-sbx-repo/.git && echo x > /tmp/parity-sbx-repo/.git/probe && echo wrote", set()),
    ("extra_write", f"echo e > {EXTRA}/probe && cat {EXTRA}/probe", set()),
    ("extra_git", f"echo e > {EXTRA}/.git/probe && echo wrote", set()),
    ("extra_codex", f"echo e > {EXTRA}/.codex/probe && echo wrote", set()),
    ("missing_root", f"ls -d {MISSING} && echo e > {MISSING}/probe && echo wrote", set()),
    ("dev_null", "echo x > /dev/null && echo devnull ok", set()),
    ("dev_shm", "echo x > /dev/shm/parity-sbx && echo shm ok", set()),
    ("ls_dev", "ls /dev", set()),
    ("read_passwd", "head -1 /etc/passwd", set()),
    ("net_curl", "curl -sS -m 5 -o /dev/null -w '%{http_code}\\n' \"$PARITY_BASE_URL/models\"", set()),
    ("net_devtcp", 'p=${PARITY_BASE_URL##*:}; p=${p%%/*}; (echo > /dev/tcp/127.0.0.1/$p) && echo connected', set()),
    ("net_dns", "getent hosts example.com; echo getent exit $?", set()),
    ("net_route", "python3 -c \"import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                  "s.connect(('192.0.2.1', 53)); print('udp route ok')\"", set()),
    ("net_local", f'python3 -c "{PY_LOCAL}"', set()),
    ("net_unix", "python3 -c 'import socket; socket.socket(socket.AF_UNIX); print(\"unix socket ok\")'", set()),
    ("net_socketpair", "python3 -c 'import socket; socket.socketpair(); print(\"socketpair ok\")'", set()),
    ("net_links", "ip -brief link | awk '{print $1, $2}'", set()),
    ("net_netns", "awk 'NR > 2 {print $1}' /proc/net/dev", set()),
    ("syscalls", f"python3 -c '{PY_SYSCALLS}'", set()),
    ("proc_id", "id", {"no-userns"}),
    ("proc_mounts", "awk '{print $5, $6, $9, $10, $11}' /proc/self/mountinfo", set()),
    ("proc_ps", "echo pid $$; ps -eo pid,comm --no-headers", set()),
    ("proc_maps", "cat /proc/self/uid_map /proc/self/gid_map", set()),
    ("proc_status", "grep -E '^(NoNewPrivs|Seccomp|CapInh|CapPrm|CapEff|CapBnd|CapAmb):' /proc/self/status", set()),
    ("proc_env", "env | grep -E '^(CODEX_SANDBOX|TMPDIR)' | sort", set()),
    ("proc_unshare", "unshare -Ur true && echo nested userns ok", set()),
    ("proc_remount", "mount -o remount,rw / && echo remounted", set()),
    ("proc_ptrace", "python3 -c 'import ctypes; r = ctypes.CDLL(None, use_errno=True).ptrace(0, 0, 0, 0); "
                    "print(r, ctypes.get_errno())'", set()),
]


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def cases_for(config):
    only = config.get("only")
    return [(n, c) for n, c, tags in CASES if only is None or only in tags]


def scenario(name, config):
    lines = [f"description = {json.dumps('Sandbox probes: ' + name)}", 'prompt = "Run the sandbox probes."', "",
             "[agent]", f"sandbox = {json.dumps(config['sandbox'])}", "timeout_secs = 600"]
    if "config" in config:
        lines.append(f"config = {toml_value(config['config'])}")
    lines += ["", "[workspace]", f"git = {toml_value(config.get('git', True))}", f"files = {toml_value(config.get('workspace', WORKSPACE))}", ""]
    previous = None
    for i, (_, cmd) in enumerate(cases_for(config)):
        call = f"c{i:02}"
        lines.append("[[script.steps]]")
        if previous:
            lines.append(f"expect = {{ function_call_output = {json.dumps(previous)} }}")
        args = toml_value({"cmd": cmd, "yield_time_ms": 30000})
        lines.append(f"output = [{{ function_call = {{ name = \"exec_command\", arguments = {args}, "
                     f"call_id = {json.dumps(call)} }} }}]")
        lines.append("")
        previous = call
    lines += ["[[script.steps]]", f"expect = {{ function_call_output = {json.dumps(previous)} }}",
              'output = [{ message = "Done." }]', ""]
    return "\n".join(lines)


SCRATCH = ["/var/tmp/parity-sbx-*", "/var/tmp/parity-a-sbx-*", "/tmp/parity-sbx-*"]


def clean_host():
    for path in [p for pattern in SCRATCH for p in glob.glob(pattern)]:
        shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.remove(path)


def prepare_host(tmpdir):
    clean_host()
    os.makedirs(tmpdir)
    os.makedirs(EARLY)
    os.makedirs(LINKDIR)
    os.makedirs(GITDIR)
    open(os.path.join(GITDIR, "HEAD"), "w").write("ref: refs/heads/main\n")
    for sub in (".git", ".codex"):
        os.makedirs(os.path.join(EXTRA, sub))
    open(os.path.join(EXTRA, ".git", "HEAD"), "w").write("ref: refs/heads/main\n")


def placeholders(text, paths):
    for value, name in paths:
        text = text.replace(value, name)
    return text


def section(text, start, end):
    i = text.find(start)
    return text[i:text.index(end, i) + len(end)] if i >= 0 else None


def observe(name, config, codex, parity):
    tmpdir = config.get("tmpdir", TMPDIR)
    prepare_host(tmpdir)
    work = tempfile.mkdtemp(prefix="sbx-observe-", dir="/var/tmp")
    try:
        path = os.path.join(work, f"sandbox-probes-{name}.toml")
        open(path, "w").write(scenario(name, config))
        out = os.path.join(work, "out")
        cd = f"cd {config['cwd']} && " if "cwd" in config else ""
        template = (f"{cd}TMPDIR={tmpdir} exec {config.get('wrapper', '')} {codex} exec --skip-git-repo-check --json "
                    "{prompt}")
        subprocess.run([parity, "record", "--scenario", path, "--agent", template, "--out", out, "--clean"],
                       check=False)
        requests = sorted(glob.glob(os.path.join(out, "captures/session-01/*-post-responses.json")))
        bodies = [json.load(open(r)) for r in requests]
        first = bodies[0]["request"]
        texts = [c.get("text", "") for item in first["body"]["input"] if item["type"] == "message"
                 for c in item["content"]]
        context = next(t for t in texts if t.startswith("<environment_context>"))
        workspace = re.search(r"<cwd>(.*?)</cwd>", context).group(1)
        run = re.match(r"(.*)/workspace(/.*)?$", workspace).group(1)
        base_url = re.search(r"127\.0\.0\.1:(\d+)", dict(first["headers"])["host"]).group(1)
        paths = [(workspace, "{WS}"), (run + "/home", "{HOME}"), (run, "{RUN}"), (tmpdir, "{TMPDIR}"),
                 (base_url, "{PORT}")]
        metadata = json.loads(dict(first["headers"])["x-codex-turn-metadata"])
        permissions = next(section(t, "<permissions instructions>", "</permissions instructions>") for t in texts
                           if "<permissions instructions>" in t)
        outputs = {}
        for body in bodies:
            for item in body["request"]["body"]["input"]:
                if item["type"] == "function_call_output":
                    outputs[item["call_id"]] = item["output"]
        cases = []
        for i, (case, cmd) in enumerate(cases_for(config)):
            raw = outputs.get(f"c{i:02}")
            m = re.match(r"Chunk ID: \w+\nWall time: [\d.]+ seconds\nProcess exited with code (-?\d+)\n"
                         r"(?:Original token count: \d+\n)?Output:\n(.*)\Z", raw or "", re.S)
            if not m:
                raise SystemExit(f"{name}/{case}: unexpected tool output {raw!r}")
            cases.append({"name": case, "cmd": placeholders(cmd, paths), "exit_code": int(m.group(1)),
                          "output": placeholders(m.group(2), paths)})
        stderr = open(os.path.join(out, "turn-1/stderr.txt")).read()
        events = [json.loads(line) for line in open(os.path.join(out, "turn-1/events.jsonl"))]
        notices = [e for e in events if e["type"] == "error" or e.get("item", {}).get("type") in ("error", "warning")]
        record = {
            "config": name,
            "sandbox_mode": config["sandbox"],
            "config_toml": config.get("config", {}),
            "env": {"TMPDIR": tmpdir},
            "wrapper": config.get("wrapper"),
            "workspace": config.get("workspace", WORKSPACE),
            "git": config.get("git", True),
            "cwd": config.get("cwd"),
            "turn_metadata_sandbox": metadata.get("sandbox"),
            "permissions_instructions": placeholders(permissions, paths),
            "filesystem_context": placeholders(section(context, "<filesystem>", "</filesystem>"), paths),
            "agent_stderr": placeholders(stderr, paths).splitlines(),
            "agent_notices": json.loads(placeholders(json.dumps(notices), paths)),
            "cases": cases,
        }
        with open(os.path.join(ROOT, "cases", f"{name}.json"), "w") as f:
            json.dump(record, f, indent=1, ensure_ascii=False)
            f.write("\n")
        print(f"{name}: {len(cases)} cases")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        clean_host()


def main():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    parser = argparse.ArgumentParser()
    parser.add_argument("--codex", default=DEFAULT_CODEX)
    parser.add_argument("--parity", default=os.path.join(target, "debug/parity"))
    parser.add_argument("configs", nargs="*", default=list(CONFIGS))
    args = parser.parse_args()
    for name in args.configs:
        observe(name, CONFIGS[name], args.codex, args.parity)


if __name__ == "__main__":
    main()
