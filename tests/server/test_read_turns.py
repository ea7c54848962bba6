"""Reads take turns by caller: one caller's flood queues behind itself, not in front of others."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llmtrace_server.read_turns import ReadTurns


class SlowReads:
    """An ASGI app standing for the store: each GET runs until the test lets it finish."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finish: dict[str, asyncio.Event] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        name = scope["path"].strip("/")
        self.started.append(name)
        self.finish[name] = event = asyncio.Event()
        await event.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def get(turns: ReadTurns, name: str, key: str | None = None, cookie: str | None = None) -> asyncio.Task[None]:
    headers = []
    if key:
        headers.append((b"authorization", f"Bearer {key}".encode()))
    if cookie:
        headers.append((b"cookie", f"theme=dark; llmtrace_key={cookie}".encode()))
    scope = {"type": "http", "method": "GET", "path": f"/{name}", "headers": headers}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    return asyncio.create_task(turns(scope, receive, send))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_flooding_caller_waits_behind_itself() -> None:
    async def scenario() -> None:
        store = SlowReads()
        turns = ReadTurns(store, slots=2)
        flood = [get(turns, f"a{i}", key="key-a") for i in range(8)]
        await settle()
        assert store.started == ["a0", "a1"]  # two slots
        b = get(turns, "b0", key="key-b")
        ui = get(turns, "c0", cookie="key-c")  # the UI's cookie is a caller of its own
        await settle()
        assert store.started == ["a0", "a1"]
        store.finish["a0"].set()
        await settle()
        assert store.started[-1] == "a2"  # a's turn: it was waiting first
        store.finish["a1"].set()
        await settle()
        assert store.started[-1] == "b0"  # then b's and c's, not a's other five
        store.finish["a2"].set()
        await settle()
        assert store.started[-1] == "c0"
        store.finish["b0"].set()
        await settle()
        assert store.started[-1] == "a3"
        for name in ["c0", *(f"a{i}" for i in range(3, 8))]:
            while name not in store.finish:
                await settle()
            store.finish[name].set()
        await asyncio.gather(*flood, b, ui)
        assert turns.free == 2 and not turns.lanes and not turns.turns

    asyncio.run(scenario())


@pytest.mark.parametrize("at_once", [False, True])
def test_a_read_given_up_while_waiting_leaves_its_place(at_once: bool) -> None:
    """Its client disconnected while it waited; ``at_once``: in the same step as the slot frees,
    so its turn comes up before it has left the line (it is skipped)."""

    async def scenario() -> None:
        store = SlowReads()
        turns = ReadTurns(store, slots=1)
        first = get(turns, "a0", key="key-a")
        await settle()
        gone = get(turns, "b0", key="key-b")
        later = get(turns, "c0", key="key-c")
        await settle()
        gone.cancel()
        if not at_once:
            await settle()
        store.finish["a0"].set()
        await settle()
        assert store.started == ["a0", "c0"]
        store.finish["c0"].set()
        await asyncio.gather(first, later)
        assert turns.free == 1 and not turns.lanes and not turns.turns

    asyncio.run(scenario())


def test_a_client_reading_its_answer_slowly_holds_no_slot() -> None:
    async def scenario() -> None:
        store = SlowReads()
        turns = ReadTurns(store, slots=1)
        reading = asyncio.Event()

        async def slow_client(message: Any) -> None:
            if message["type"] == "http.response.body":
                await reading.wait()  # its socket's buffers are full

        scope = {"type": "http", "method": "GET", "path": "/a0", "headers": [(b"authorization", b"k-a")]}
        first = asyncio.create_task(turns(scope, None, slow_client))  # type: ignore[arg-type]
        await settle()
        store.finish["a0"].set()
        other = get(turns, "b0", key="key-b")
        await settle()
        assert store.started == ["a0", "b0"] and not first.done()
        store.finish["b0"].set()
        reading.set()
        await asyncio.gather(first, other)
        assert turns.free == 1

    asyncio.run(scenario())


def test_static_files_and_writes_do_not_wait() -> None:
    async def scenario() -> None:
        store = SlowReads()
        turns = ReadTurns(store, slots=1)
        get(turns, "a0", key="key-a")
        await settle()
        scope = {"type": "http", "method": "GET", "path": "/static/app.css", "headers": []}
        asset = asyncio.create_task(turns(scope, None, None))  # type: ignore[arg-type]
        post = {"type": "http", "method": "POST", "path": "/api/v1/scores", "headers": []}
        write = asyncio.create_task(turns(post, None, None))  # type: ignore[arg-type]
        await settle()
        assert store.started == ["a0", "static/app.css", "api/v1/scores"]
        for task in (asset, write):
            task.cancel()
        store.finish["a0"].set()

    asyncio.run(scenario())
