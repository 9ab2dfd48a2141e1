#!/usr/bin/env python3
"""Turns `parity record` recordings of the scenarios in scenarios/ into the case files in cases/.

    python3 agent/exec/tests/observed/extract.py RECORDINGS_DIR [SCENARIO_NAME ...]

RECORDINGS_DIR holds one recording per scenario, as `parity record --all --scenarios <scenarios dir> --out DIR`
writes them (DIR/<name>/captures/..., DIR/<name>/turn-N/events.jsonl). A case file keeps the hand-written `engine`
key of the file it replaces. See README.md for the format.
"""

import hashlib
import json
import pathlib
import re
import sys
import tomllib

HERE = pathlib.Path(__file__).resolve().parent
# Longer texts are kept as a digest with their ends, to keep the case files small.
INLINE_LIMIT = 4000
ENDS = 300

HEADER_RULES = [
    (re.compile(r"^Chunk ID: [0-9a-f]{6}$"), "Chunk ID: {CHUNK}"),
    (re.compile(r"^Wall time: \d+\.\d{4} seconds$"), "Wall time: {WALL} seconds"),
]
SESSION_LINE = re.compile(r"^Process running with session ID (-?\d+)$")
UNKNOWN_SESSION = re.compile(r"^write_stdin failed: Unknown process id (-?\d+)$")
RUN_DIR = re.compile(r"/var/tmp/parity-runs/[^/\s\"']+/(workspace|home)")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PORT = re.compile(r"127\.0\.0\.1:\d+")


def scrub(text):
    text = RUN_DIR.sub(lambda m: "{WORKSPACE}" if m.group(1) == "workspace" else "{HOME}", text)
    text = UUID.sub("{UUID}", text)
    return PORT.sub("127.0.0.1:{PORT}", text)


class Sessions:
    """Numbers session ids by first appearance: {SESSION_1}, {SESSION_2}, ..."""

    def __init__(self):
        self.names = {}

    def name(self, number, create):
        if number not in self.names and create:
            self.names[number] = "{SESSION_%d}" % (len(self.names) + 1)
        return self.names.get(number)


def normalize_output(text, sessions):
    """Marks the volatile header lines (before `Output:`) and session ids; returns (text, wall time)."""
    lines = text.split("\n")
    wall = None
    for i, line in enumerate(lines):
        if line == "Output:":
            break
        m = re.match(r"^Wall time: (\d+\.\d{4}) seconds$", line)
        if m:
            wall = float(m.group(1))
        for pattern, replacement in HEADER_RULES:
            if pattern.match(line):
                lines[i] = replacement
        m = SESSION_LINE.match(line)
        if m:
            lines[i] = "Process running with session ID " + sessions.name(m.group(1), True)
        m = UNKNOWN_SESSION.match(line)
        if m and sessions.name(m.group(1), False):
            lines[i] = "write_stdin failed: Unknown process id " + sessions.name(m.group(1), False)
    return scrub("\n".join(lines)), wall


def abbreviate(text):
    if len(text) <= INLINE_LIMIT:
        return text
    return {
        "len": len(text),
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "head": text[:ENDS],
        "tail": text[-ENDS:],
    }


def normalize_arguments(arguments, sessions):
    def replace(m):
        name = sessions.name(m.group(2), False)
        return m.group(1) + (name if name else m.group(2))

    return re.sub(r'("session_id":\s*)(-?\d+)', replace, arguments)


def requests(recording):
    for path in sorted((recording / "captures").glob("session-*/*-post-responses.json")):
        yield json.loads(path.read_text())["request"]["body"]


def turns_of(steps):
    """Step indexes per turn: a step whose output holds no tool call ends its turn."""
    turns, current = [], []
    for index, step in enumerate(steps):
        current.append(index)
        if not any("function_call" in item for item in step.get("output", [])):
            turns.append(current)
            current = []
    return turns


def command_events(recording, turn):
    events = []
    path = recording / f"turn-{turn}" / "events.jsonl"
    for line in path.read_text().splitlines():
        event = json.loads(line)
        item = event.get("item")
        if item and item.get("type") == "command_execution":
            events.append({
                "type": event["type"],
                "command": scrub(item["command"]),
                "aggregated_output": abbreviate(scrub(item["aggregated_output"])),
                "exit_code": item["exit_code"],
                "status": item["status"],
            })
    return events


def extract(name, recording):
    scenario = tomllib.loads((HERE / "scenarios" / f"{name}.toml").read_text())
    steps = scenario["script"]["steps"]
    bodies = list(requests(recording))
    sessions = Sessions()
    seen = set()
    calls_by_step = []
    # Request k+1 carries the calls of step k and their outputs.
    for body in bodies[1:]:
        calls, outputs = [], {}
        for item in body["input"]:
            if item.get("type") == "function_call" and item["call_id"] not in seen:
                seen.add(item["call_id"])
                calls.append(item)
            elif item.get("type") == "function_call_output":
                outputs[item["call_id"]] = item["output"]
        step_calls = []
        for call in calls:
            # Outputs first: write_stdin arguments name sessions that earlier outputs introduced.
            text, wall = normalize_output(outputs[call["call_id"]], sessions)
            entry = {
                "call_id": call["call_id"],
                "name": call["name"],
                "arguments": normalize_arguments(call["arguments"], sessions),
                "output": abbreviate(text),
            }
            if wall is not None:
                entry["observed_wall_time"] = wall
            step_calls.append(entry)
        calls_by_step.append(step_calls)

    turns = []
    for number, indexes in enumerate(turns_of(steps), start=1):
        turn_steps = []
        for index in indexes:
            if index < len(calls_by_step) and calls_by_step[index]:
                step = {"calls": calls_by_step[index]}
                delay = steps[index].get("start_delay_ms")
                if delay:
                    step["delay_ms"] = delay
                turn_steps.append(step)
        turns.append({"steps": turn_steps, "events": command_events(recording, number)})

    run = json.loads((recording / "run.json").read_text())
    run_dirs = {m.group(0).rsplit("/", 1)[0] for body in bodies for m in RUN_DIR.finditer(json.dumps(body["input"]))}
    case = {
        "scenario": name,
        "description": scenario.get("description", ""),
        "agent_version": run["agent_version"],
        "recorded_at": run["started_at"],
        "workspace_files": scenario.get("workspace", {}).get("files", {}),
        # The length of the run directory holding {WORKSPACE} and {HOME}: token counts depend on it.
        "run_dir_len": max(map(len, run_dirs), default=None),
        "turns": turns,
    }
    out = HERE / "cases" / f"{name}.json"
    if out.exists():
        previous = json.loads(out.read_text())
        if "engine" in previous:
            case["engine"] = previous["engine"]
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(case, indent=2, ensure_ascii=False) + "\n")
    print(f"{out.relative_to(HERE)}: {sum(len(s['calls']) for t in turns for s in t['steps'])} call(s)")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    root = pathlib.Path(sys.argv[1])
    names = sys.argv[2:] or sorted(p.stem for p in (HERE / "scenarios").glob("*.toml"))
    for name in names:
        extract(name, root / name)


if __name__ == "__main__":
    main()
