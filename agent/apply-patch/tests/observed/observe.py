#!/usr/bin/env python3
"""Records what upstream Codex does with an apply_patch call, into the case files next to this script.

Each case file names its inputs (sandbox, workspace files, the tool call); this script runs the pinned upstream
`codex exec --json` against `parity serve` in a fresh temporary workspace, then writes back what the model would
read (`output`), the `file_change` item of the JSON event stream and the resulting trees. Keys it does not own
(`engine`, `note`) are left alone.

    python3 observe.py [--codex BIN] [--parity BIN] cases/*.json

Needs: the pinned binary (scripts/install-upstream.sh) and `cargo build -p parity-cli`.
"""
import argparse, glob, json, os, re, shutil, subprocess, tempfile

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(ROOT, "../../../.."))
DEFAULT_CODEX = os.path.join(REPO, ".upstream/codex-0.169.0/node_modules/@openai/codex-linux-x64/vendor/"
                             "x86_64-unknown-linux-musl/bin/codex")
SANDBOXES = {
    "workspace-write": ("workspace-write", ""),
    # /tmp is writable under workspace-write by default, and every workspace here lives in /tmp: excluding it
    # is what makes "outside the workspace" observable.
    "workspace-write-no-tmp": ("workspace-write",
                               "[sandbox_workspace_write]\nexclude_slash_tmp = true\nexclude_tmpdir_env_var = true\n"),
    "read-only": ("read-only", ""),
    "danger-full-access": ("danger-full-access", ""),
}
OWNED = ("output", "file_change", "workspace_after", "outside_after")


def write_tree(root, files):
    for rel, content in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(bytes(content["bytes"]) if isinstance(content, dict) else content.encode())


def read_tree(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in list(dirnames):
            path = os.path.join(dirpath, d)
            if os.path.islink(path):
                out[os.path.relpath(path, root)] = {"symlink": os.readlink(path)}
                dirnames.remove(d)
            elif not os.listdir(path):
                out[os.path.relpath(path, root) + "/"] = {"dir": True}
        for name in filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                out[rel] = {"symlink": os.readlink(path)}
                continue
            data = open(path, "rb").read()
            try:
                out[rel] = data.decode("utf-8")
            except UnicodeDecodeError:
                out[rel] = {"bytes": list(data)}
    return dict(sorted(out.items()))


def observe(case, codex, parity):
    base = tempfile.mkdtemp(prefix="observe-" + case["name"] + "-")
    try:
        return observe_in(base, case, codex, parity)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def observe_in(base, case, codex, parity):
    ws, outside, home, captures = (os.path.join(base, d) for d in ("ws", "outside", "home", "captures"))
    for d in (ws, outside, home):
        os.makedirs(d)
    write_tree(ws, case.get("workspace", {}))
    for rel in case.get("dirs", []):
        os.makedirs(os.path.join(ws, rel), exist_ok=True)
    for rel, target in case.get("symlinks", {}).items():
        os.symlink(target, os.path.join(ws, rel))
    write_tree(outside, case.get("outside", {}))

    def place(text):
        return text.replace("{WS}", ws).replace("{OUT}", outside)

    def placeholders(value):
        return json.loads(json.dumps(value).replace(ws, "{WS}").replace(outside, "{OUT}"))

    call = json.loads(place(json.dumps(case["call"])))
    kind = call.pop("type")
    call.setdefault("call_id", "call_1")
    script = os.path.join(base, "script.json")
    with open(script, "w") as f:
        json.dump({"steps": [{"output": [{kind: call}]}, {"output": [{"message": "done"}]}]}, f)
    server = subprocess.Popen([parity, "serve", "--script", script, "--listen", "127.0.0.1:0",
                               "--captures", captures, "-q"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        port = server.stdout.readline().strip().rsplit(":", 1)[1].strip("/")
        mode, extra = SANDBOXES[case.get("sandbox", "workspace-write")]
        with open(os.path.join(home, "config.toml"), "w") as f:
            f.write(f'model = "gpt-5.5"\nmodel_provider = "parity"\napproval_policy = "never"\n'
                    f'sandbox_mode = "{mode}"\n{extra}\n[model_providers.parity]\nname = "parity"\n'
                    f'base_url = "http://127.0.0.1:{port}/v1"\nwire_api = "responses"\nenv_key = "FAKE_KEY"\n')
        env = {"PATH": "/usr/bin:/bin", "HOME": home, "TERM": "dumb", "CODEX_HOME": home, "FAKE_KEY": "dummy"}
        run = subprocess.run([codex, "exec", "--skip-git-repo-check", "--json", "go"], cwd=ws, env=env,
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180)
    finally:
        server.terminate()
        server.wait()
    requests = sorted(glob.glob(os.path.join(captures, "*", "*-post-responses.json")))
    if len(requests) != 2:
        raise SystemExit(f"{case['name']}: expected 2 model requests, saw {len(requests)}\n{run.stderr}")
    body = json.load(open(requests[1]))["request"]["body"]
    outputs = [item["output"] for item in body["input"]
               if item.get("type") in ("custom_tool_call_output", "function_call_output")]
    if len(outputs) != 1:
        raise SystemExit(f"{case['name']}: expected one tool output, saw {len(outputs)}")
    file_changes = [json.loads(line)["item"] for line in run.stdout.splitlines()
                    if line.startswith("{") and json.loads(line).get("type") == "item.completed"
                    and json.loads(line)["item"].get("type") == "file_change"]
    file_change = None
    if file_changes:
        item = file_changes[-1]
        file_change = {"changes": item["changes"], "status": item["status"]}
    observed = {
        "output": outputs[0],
        "file_change": file_change,
        "workspace_after": read_tree(ws),
        "outside_after": read_tree(outside),
    }
    return placeholders(observed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codex", default=DEFAULT_CODEX)
    parser.add_argument("--parity", default=os.path.join(os.environ.get("CARGO_TARGET_DIR",
                                                                        os.path.join(REPO, "target")),
                                                         "debug/parity"))
    parser.add_argument("cases", nargs="+")
    args = parser.parse_args()
    wall = re.compile(r"Wall time: [0-9.]+ seconds")
    for path in args.cases:
        case = json.load(open(path))
        observed = observe(case, args.codex, args.parity)
        before = {k: case.get(k) for k in OWNED}
        if before["output"] is not None and wall.sub("", before["output"]) == wall.sub("", observed["output"]):
            observed["output"] = before["output"]  # only the wall time moved: keep the file stable
        case.update(observed)
        if not case["outside_after"] and not case.get("outside"):
            del case["outside_after"]
        changed = [k for k in OWNED if json.dumps(before.get(k)) != json.dumps(case.get(k))]
        with open(path, "w") as f:
            json.dump(case, f, indent=2, ensure_ascii=False)
            f.write("\n")
        print(f"{case['name']}: {'changed ' + ', '.join(changed) if changed else 'same'}")


if __name__ == "__main__":
    main()
