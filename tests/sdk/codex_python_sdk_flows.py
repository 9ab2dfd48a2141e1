"""Drives an agent's app server through `codex-python-sdk` 0.2.1 (import `codex_python_sdk`), as a user of that SDK
would: a thread, a plain turn, a tool turn, a steered turn, an interrupted turn (steer and interrupt through its
event stream, by the turn id it reports), then in a second client process a resume, a fork and reads. Prints one
JSON document of what each flow got; the Rust test (tests/tests/sdk_python.rs) asserts on it and on the requests its
scripted server received."""

from __future__ import annotations

import asyncio
from typing import Any

from codex_python_sdk import AsyncCodexAgenticClient
from common import BIN, WAIT_S, WORKSPACE, Report, guard, wait_for_hold

guard(150)
report = Report()


def client() -> AsyncCodexAgenticClient:
    # The SDK's defaults otherwise: `app-server --enable guardian_approval -c web_search="live"`, threads with
    # approvalPolicy on-request and sandbox workspace-write.
    return AsyncCodexAgenticClient(codex_command=BIN, process_cwd=WORKSPACE, stream_idle_timeout_seconds=WAIT_S)


def summary(events: list[Any], text: str | None) -> dict[str, Any]:
    """A turn as the SDK's events told it: the text, the event types, the completed items, the completed turn."""
    items = [e.raw.get("params", {}).get("item") for e in events if e.type == "item/completed"]
    if text is None:
        agent = [i.get("text") for i in items if isinstance(i, dict) and i.get("type") == "agentMessage"]
        text = agent[-1] if agent else None
    return {
        "text": text,
        "event_types": [e.type for e in events],
        "items": items,
        "turn": next((e.raw.get("params", {}).get("turn") for e in events if e.type == "turn/completed"), None),
    }


def answer(response: Any) -> dict[str, Any]:
    """An AgentResponse of responses_create(include_events=True)."""
    return {"thread_id": response.thread_id, **summary(response.events or [], response.text)}


async def controlled_turn(c: AsyncCodexAgenticClient, thread_id: str, prompt: str, hold: str, act) -> dict[str, Any]:
    """Runs a turn through the event stream; once the turn has an id and the server holds the stream at `hold`,
    `act(turn_id)` steers or interrupts it from beside the stream."""
    events: list[Any] = []
    acted: dict[str, Any] = {}
    task = None

    async def when_held(turn_id: str) -> None:
        await asyncio.to_thread(wait_for_hold, hold)
        acted["answer"] = await act(turn_id)

    async for event in c.responses_events(prompt=prompt, thread_id=thread_id):
        events.append(event)
        if task is None and event.turn_id and event.type == "turn/started":
            task = asyncio.create_task(when_held(event.turn_id))
    if task is None:
        raise RuntimeError(f"no turn/started event among {[e.type for e in events]}")
    await asyncio.wait_for(task, WAIT_S)
    return {"answer": acted.get("answer"), "turn": summary(events, None)}


async def main() -> None:
    state: dict[str, Any] = {}
    c = client()
    await report.aflow("start", c.connect)

    async def start():
        started = await c.thread_start()
        state["thread_id"] = started["thread"]["id"]
        return {"thread_id": state["thread_id"], "answer": started}

    await report.aflow("thread_start", start)
    if "thread_id" in state:
        tid = state["thread_id"]

        async def plain():
            return answer(await c.responses_create(prompt="Say hello.", thread_id=tid, include_events=True))

        await report.aflow("plain", plain)

        async def tool():
            return answer(await c.responses_create(prompt="What do my notes say?", thread_id=tid, include_events=True))

        await report.aflow("tool", tool)

        async def steer():
            return await controlled_turn(
                c, tid, "Tell me a long story.", "story", lambda turn: c.turn_steer(tid, turn, "Make it a short one.")
            )

        await report.aflow("steer", steer)

        async def interrupt():
            out = await controlled_turn(
                c, tid, "Count slowly to a thousand.", "counting", lambda turn: c.turn_interrupt(tid, turn)
            )
            after = await c.responses_create(prompt="Never mind. Say done.", thread_id=tid, include_events=True)
            out["after"] = answer(after)
            return out

        await report.aflow("interrupt", interrupt)
    await c.close()

    if "thread_id" in state:
        tid = state["thread_id"]
        again = client()
        await report.aflow("restart", again.connect)

        async def resume():
            # The SDK resumes (thread/resume) before the turn itself.
            return answer(
                await again.responses_create(prompt="What was my first request?", thread_id=tid, include_events=True)
            )

        await report.aflow("resume", resume)

        async def fork():
            forked = await again.thread_fork(tid)
            state["fork_id"] = forked["thread"]["id"]
            turn = await again.responses_create(
                prompt="Continue in the fork.", thread_id=state["fork_id"], include_events=True
            )
            return {"thread_id": state["fork_id"], "turn": answer(turn)}

        await report.aflow("fork", fork)

        async def read():
            out = {"source": await again.thread_read(tid, include_turns=True)}
            if "fork_id" in state:
                out["fork"] = await again.thread_read(state["fork_id"], include_turns=True)
            return out

        await report.aflow("read", read)
        await again.close()


asyncio.run(main())
report.print()
