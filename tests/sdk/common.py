"""What the SDK drivers share: the environment the Rust test hands them, the scripted server's holds, and the one
JSON document each driver prints on stdout."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import traceback
import urllib.request
from typing import Any, Awaitable, Callable

# The agent binary under test, the scripted server's root URL (its control API is under /_parity), the workspace.
BIN = os.environ["PARITY_SDK_BIN"]
SERVER = os.environ["PARITY_SDK_SERVER"].rstrip("/")
WORKSPACE = os.environ.get("PARITY_SDK_WORKSPACE", os.getcwd())
# Every wait of a driver is bounded; the Rust test bounds the whole run too.
WAIT_S = float(os.environ.get("PARITY_SDK_WAIT_S", "30"))


def guard(seconds: int) -> None:
    """Ends the driver with a traceback of where it hung, should it run past `seconds`."""

    def expired(_signum: int, frame: Any) -> None:
        stack = "".join(traceback.format_stack(frame))
        print(f"driver: still running after {seconds} s, at:\n{stack}", file=sys.stderr, flush=True)
        os._exit(3)

    signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)


def wait_for_hold(name: str) -> dict[str, Any]:
    """Polls the server's control API until a stream is held at the hold `name`."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{SERVER}/_parity/holds", timeout=5) as answer:
            for hold in json.load(answer)["holds"]:
                if hold["name"] == name:
                    return hold
        time.sleep(0.05)
    raise TimeoutError(f"no stream reached the hold {name!r} within {WAIT_S} s")


def jsonable(value: Any) -> Any:
    """A pydantic model (or a list of them, or anything else) as plain JSON."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if hasattr(value, "value") and not isinstance(value, (str, int, float, bool)):
        return value.value
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


class Report:
    """Each flow's result, or the error that stopped it, printed as one JSON document at the end."""

    def __init__(self) -> None:
        self.flows: dict[str, Any] = {}

    def flow(self, name: str, run: Callable[[], Any]) -> Any:
        started = time.monotonic()
        try:
            return self._ok(name, started, run())
        except BaseException as exc:  # noqa: BLE001 - the Rust test reports it
            return self._failed(name, started, exc)

    async def aflow(self, name: str, run: Callable[[], Awaitable[Any]]) -> Any:
        """Like `flow`, for a coroutine, bounded by twice the driver's wait."""
        started = time.monotonic()
        try:
            return self._ok(name, started, await asyncio.wait_for(run(), WAIT_S * 2))
        except BaseException as exc:  # noqa: BLE001 - the Rust test reports it
            return self._failed(name, started, exc)

    def _ok(self, name: str, started: float, result: Any) -> Any:
        self.flows[name] = {"ok": True, "result": jsonable(result), "seconds": round(time.monotonic() - started, 3)}
        return result

    def _failed(self, name: str, started: float, exc: BaseException) -> None:
        self.flows[name] = {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "trace": traceback.format_exc(),
            "seconds": round(time.monotonic() - started, 3),
        }
        return None

    def print(self) -> None:
        print(json.dumps({"flows": self.flows}), flush=True)
