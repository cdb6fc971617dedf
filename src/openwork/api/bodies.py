"""Request bodies: the cap each route allows, the bound on large bodies in memory, and reading one.

The guard middleware (``api.guard``) reads a body only after the caller authenticated, with the cap of the
route the request names; FastAPI then parses it from memory. There is no public way to hand FastAPI a body
parsed elsewhere (``Request.json()`` caches on a private attribute), so a large JSON body is still parsed on
the event loop (about 0.25 s for 47 MiB); what bounds that cost, and the memory, is ``LargeBodyGate``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from starlette.routing import compile_path
from starlette.types import Message, Receive

from openwork.constants import DEFAULT_MAX_BODY_BYTES
from openwork.errors import PayloadTooLarge, RequestTimeout, ServerBusy

__all__ = [
    "BODY_READ_TIMEOUT",
    "DEFAULT_BODY_LIMIT",
    "LARGE_BODY_THRESHOLD",
    "LARGE_BODY_WAIT",
    "MAX_LARGE_BODIES",
    "MAX_LARGE_BODIES_PER_CALLER",
    "BodyLimits",
    "BodyRoute",
    "LargeBodyGate",
    "read_body",
    "streamed_body",
]

DEFAULT_BODY_LIMIT = DEFAULT_MAX_BODY_BYTES  # every route not in the table, and GET/HEAD/OPTIONS everywhere
LARGE_BODY_THRESHOLD = DEFAULT_MAX_BODY_BYTES  # a body over this needs a LargeBodyGate slot before it is read
# Server-wide. One 43 MiB write batch (32 MiB of files) adds about 175 MB to this process while it is handled
# (the bytes, the parsed JSON, the decoded files; bench/bodies.py), so two bound that near 350 MB whatever
# the number of clients.
MAX_LARGE_BODIES = 2
MAX_LARGE_BODIES_PER_CALLER = 1  # one token cannot take every slot (STYLE 13: caps are per caller)
LARGE_BODY_WAIT = 30.0  # seconds a large body waits for a slot, then 503 (the client retries)
# Seconds to receive a whole body, slot wait included: 48 MiB at 400 KB/s. A client trickling its body
# would otherwise hold a slot (and a connection) for ever.
BODY_READ_TIMEOUT = 120.0


@dataclass(frozen=True, kw_only=True, slots=True)
class BodyRoute:
    """A route whose body cap is not ``DEFAULT_BODY_LIMIT``: a Starlette path template and its methods.
    ``streamed``: the body is not read here but passed on as it arrives, counted against ``limit``."""

    template: str
    methods: frozenset[str]
    limit: int
    streamed: bool = False


class BodyLimits:
    """The body cap of the route a request names, decided from its method and path before any routing."""

    def __init__(self, routes: Iterable[BodyRoute], *, default: int = DEFAULT_BODY_LIMIT) -> None:
        # ``compile_path`` is Starlette's own template compiler, so ``{ws_id}`` and ``{path:path}`` match here
        # exactly what they match in the router.
        self._routes: tuple[tuple[re.Pattern[str], BodyRoute], ...] = tuple(
            (compile_path(route.template)[0], route) for route in routes
        )
        self.default = default

    @property
    def routes(self) -> tuple[BodyRoute, ...]:
        return tuple(route for _, route in self._routes)

    def route(self, method: str, path: str) -> BodyRoute:
        for regex, route in self._routes:
            if method in route.methods and regex.match(path):
                return route
        return BodyRoute(template="", methods=frozenset(), limit=self.default)

    def limit(self, method: str, path: str) -> int:
        return self.route(method, path).limit


@dataclass(slots=True)
class _Caller:
    slots: asyncio.Semaphore
    users: int = 0  # holders and waiters; the entry goes when the last one leaves


@dataclass(kw_only=True, slots=True)
class LargeBodyGate:
    """At most ``total`` large bodies in memory at once, at most ``per_caller`` of them one caller's.

    Whoever gets a slot holds it until its request is answered: the body stays in memory that long.
    """

    total: int = MAX_LARGE_BODIES
    per_caller: int = MAX_LARGE_BODIES_PER_CALLER
    wait: float = LARGE_BODY_WAIT
    in_use: int = 0  # slots held now (tests count them back to zero)
    _slots: asyncio.Semaphore | None = field(default=None, repr=False)
    _callers: dict[str, _Caller] = field(default_factory=dict, repr=False)

    @property
    def callers(self) -> int:
        """Callers holding or waiting for a slot (tests count them back to zero)."""
        return len(self._callers)

    @asynccontextmanager
    async def slot(self, caller: str) -> AsyncIterator[None]:
        """Hold a slot for the block; ``ServerBusy`` after ``wait`` seconds without one."""
        if self._slots is None:  # created here, on the serving loop, not where the app is built
            self._slots = asyncio.Semaphore(self.total)
        total = self._slots
        entry = self._callers.setdefault(caller, _Caller(asyncio.Semaphore(self.per_caller)))
        entry.users += 1
        try:
            try:
                async with asyncio.timeout(self.wait):
                    # The caller's own slot first: a caller over its share waits without holding a
                    # server-wide slot someone else could use.
                    await entry.slots.acquire()
                    try:
                        await total.acquire()
                    except BaseException:
                        entry.slots.release()
                        raise
            except TimeoutError as exc:
                raise ServerBusy(
                    f"{self.total} large request bodies are in progress already; retry in a moment"
                ) from exc
            self.in_use += 1
            try:
                yield
            finally:
                self.in_use -= 1
                total.release()
                entry.slots.release()
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._callers[caller]


async def read_body(
    receive: Receive,
    *,
    limit: int,
    declared: int | None,
    large: Callable[[], Awaitable[None]],
) -> bytes | None:
    """The whole body, at most ``limit`` bytes; ``None`` when the client went away before sending it.

    ``large`` is awaited once, before the first byte over ``LARGE_BODY_THRESHOLD`` is received (at once when
    the declared length is over it). Raises ``PayloadTooLarge`` past the limit, ``RequestTimeout`` when the
    body takes longer than ``BODY_READ_TIMEOUT`` (waiting for a slot included).
    """
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(BODY_READ_TIMEOUT):
            is_large = declared is not None and declared > LARGE_BODY_THRESHOLD
            if is_large:
                await large()
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"request body over {limit} bytes")
                if size > LARGE_BODY_THRESHOLD and not is_large:
                    # Chunked: the length shows as it arrives. The bytes of this message are in memory
                    # already (one message is at most the server's read buffer); the rest waits for a slot.
                    is_large = True
                    await large()
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError as exc:
        raise RequestTimeout(f"request body not received within {BODY_READ_TIMEOUT:.0f} s") from exc
    # One chunk is returned as is (``bytes.join`` of one exact bytes object does not copy).
    return b"".join(chunks)


def streamed_body(receive: Receive, *, limit: int) -> Receive:
    """``receive`` for a body passed on as it arrives: ``PayloadTooLarge`` past ``limit`` bytes and
    ``RequestTimeout`` when the whole body takes longer than ``BODY_READ_TIMEOUT``. Once the body is complete
    it is ``receive`` itself (what follows is the wait for a disconnect, which has no deadline)."""
    received = 0
    complete = False
    deadline: float | None = None

    async def counted() -> Message:
        nonlocal received, complete, deadline
        if complete:
            return await receive()
        loop = asyncio.get_running_loop()
        deadline = deadline if deadline is not None else loop.time() + BODY_READ_TIMEOUT
        try:
            async with asyncio.timeout_at(deadline):
                message = await receive()
        except TimeoutError as exc:
            raise RequestTimeout(f"request body not received within {BODY_READ_TIMEOUT:.0f} s") from exc
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise PayloadTooLarge(f"request body over {limit} bytes")
            complete = not message.get("more_body", False)
        else:
            complete = True
        return message

    return counted
