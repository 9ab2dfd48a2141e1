"""Drives an agent's app server through the official Python SDK, `openai-codex` (import `openai_codex`), as a user
of the SDK would: a thread, a plain turn, a tool turn, a steered turn, an interrupted turn, then in a second client
process a resume, a fork and reads. Prints one JSON document of what each flow got; the Rust test
(tests/tests/sdk_python.rs) asserts on it and on the requests its scripted server received."""

from __future__ import annotations

from common import BIN, WORKSPACE, Report, guard, wait_for_hold
from openai_codex import Codex, CodexConfig

guard(150)
report = Report()
config = CodexConfig(codex_bin=BIN, cwd=WORKSPACE)


def turn_result(result):
    return {
        "id": result.id,
        "status": result.status,
        "final_response": result.final_response,
        "items": result.items,
        "usage": result.usage,
    }


codex = report.flow("start", lambda: Codex(config=config))
state: dict = {}

if codex is not None:

    def start():
        state["thread"] = codex.thread_start()
        meta = codex.metadata
        return {"thread_id": state["thread"].id, "metadata": meta}

    report.flow("thread_start", start)

if "thread" in state:
    thread = state["thread"]
    report.flow("plain", lambda: turn_result(thread.run("Say hello.")))
    report.flow("tool", lambda: turn_result(thread.run("What do my notes say?")))

    def steer():
        handle = thread.turn("Tell me a long story.")
        wait_for_hold("story")
        answer = handle.steer("Make it a short one.")
        return {"turn_id": handle.id, "steer_answer": answer, "turn": turn_result(handle.run())}

    report.flow("steer", steer)

    def interrupt():
        handle = thread.turn("Count slowly to a thousand.")
        wait_for_hold("counting")
        answer = handle.interrupt()
        interrupted = turn_result(handle.run())
        after = turn_result(thread.run("Never mind. Say done."))
        return {"turn_id": handle.id, "interrupt_answer": answer, "turn": interrupted, "after": after}

    report.flow("interrupt", interrupt)

if codex is not None:
    codex.close()

if "thread" in state:
    thread_id = state["thread"].id
    again = report.flow("restart", lambda: Codex(config=config))
    if again is not None:

        def resume():
            resumed = again.thread_resume(thread_id)
            return {"thread_id": resumed.id, "turn": turn_result(resumed.run("What was my first request?"))}

        report.flow("resume", resume)

        def fork():
            forked = again.thread_fork(thread_id)
            state["fork"] = forked
            return {"thread_id": forked.id, "turn": turn_result(forked.run("Continue in the fork."))}

        report.flow("fork", fork)

        def read():
            source = again.thread_resume(thread_id).read(include_turns=True)
            out = {"source": source}
            if "fork" in state:
                out["fork"] = state["fork"].read(include_turns=True)
            return out

        report.flow("read", read)
        again.close()

report.print()
