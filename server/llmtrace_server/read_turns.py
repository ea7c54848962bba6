"""Reads (the query API and the UI) run a few at a time, the callers taking turns.

Every read is a store query, and the store's CPU is shared: measured on the 1M-span benchmark
store, one project's span list took 28 ms p50 alone and 910 ms while another project ran 16
searches at once. Here at most ``slots`` reads run at once; a read that finds them taken waits in
its caller's lane, and a freed slot goes to the next lane in turn. A caller flooding the server
queues behind itself: another caller's read waits for one running read to end, not for the flood.

A caller is its credential: the API key (``Authorization``) or the UI's key cookie, so a project
with several keys has several lanes. Pure ASGI; ``GET`` requests only (ingest and the JSON API's
writes have their own bounds), static files, health checks and the API docs excepted.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any

from llmtrace_server.ui.session import COOKIE

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

UNQUEUED = ("/static/", "/healthz", "/readyz", "/docs", "/openapi.json")


class ReadTurns:
    """ASGI middleware: at most ``slots`` GET requests run at once, the callers' lanes taking turns."""

    def __init__(self, app: ASGIApp, slots: int) -> None:
        self.app = app
        self.free = slots
        self.lanes: dict[str, deque[asyncio.Future[None]]] = {}  # caller -> reads waiting, in order
        self.turns: deque[str] = deque()  # callers with reads waiting, next turn first

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"].startswith(UNQUEUED):
            await self.app(scope, receive, send)
            return
        await self._take(_caller(scope))
        held = True

        async def send_freeing(message: Message) -> None:
            nonlocal held
            if held and message["type"] == "http.response.start":
                held = False  # the answer is made: sending it waits on the client, not the store,
                self._give_back()  # and a client reading slowly must not hold a slot
            await send(message)

        try:
            await self.app(scope, receive, send_freeing)
        finally:
            if held:
                self._give_back()

    async def _take(self, caller: str) -> None:
        if self.free and not self.turns:
            self.free -= 1
            return
        turn = asyncio.get_running_loop().create_future()
        lane = self.lanes.setdefault(caller, deque())
        lane.append(turn)
        if len(lane) == 1:
            self.turns.append(caller)
        try:
            await turn
        except asyncio.CancelledError:  # the client left while waiting
            if turn.done() and not turn.cancelled():
                self._give_back()  # it had been handed the slot: pass it on
            elif turn in lane:  # still in line: leave it
                lane.remove(turn)
                if not lane:
                    del self.lanes[caller]
                    self.turns.remove(caller)
            raise

    def _give_back(self) -> None:
        """Hand the freed slot to the first waiting read of the next caller in turn."""
        while self.turns:
            caller = self.turns.popleft()
            lane = self.lanes[caller]
            turn = lane.popleft()
            if lane:
                self.turns.append(caller)  # its next read waits for the other callers' turns
            else:
                del self.lanes[caller]
            if not turn.done():  # (one cancelled before it learned it was dropped is skipped)
                turn.set_result(None)
                return
        self.free += 1


def _caller(scope: MutableMapping[str, Any]) -> str:
    cookie = b""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return "key " + value.decode("latin-1")
        if name == b"cookie":
            cookie = value
    if cookie:
        try:
            morsel = SimpleCookie(cookie.decode("latin-1")).get(COOKIE)
        except CookieError:
            morsel = None
        if morsel is not None:
            return "key Bearer " + morsel.value
    return ""
