"""Every cap is per token, and the host and the client token always keep room (issue 16, finding 4).

One viewer token used to fill the server-wide session table (1,000 sessions of up to an hour) and the
approval queue (256), and then the host and the client token got 409 too. Now each token has its own
share and the server-wide cap binds only minted tokens together.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openwork.api import AppContext
from openwork.approvals.service import MAX_PENDING, MAX_PENDING_PER_TOKEN, ApprovalService, WriteDenied
from openwork.auth.principal import Principal, Role
from openwork.auth.quota import CallerCap
from openwork.errors import ConflictError
from openwork.files.sessions import MAX_SESSIONS, MAX_SESSIONS_PER_TOKEN, MAX_TTL_SECONDS, SessionStore
from openwork.runtime.events import EventBus
from openwork.store.db import Database

HOST = Principal(role=Role.HOST, subject="host", scope="owner")
CLIENT = Principal(role=Role.CLIENT, subject="client", scope="owner")
RESERVED = ("host", "client")
MINTED = ("tok_a", "tok_b", "tok_c", "tok_d")  # more tokens than the backstop has room for at full share
SMALL = CallerCap(what="things", per_token=3, minted_total=7)  # small, so short sequences reach both caps
SETTLE_STEPS = 100  # loop turns for a new request to be queued or refused (it takes one)
APPROVAL_TIMEOUT_MS = 60_000  # never reached: every request is answered within its example


def _viewer(subject: str) -> Principal:
    return Principal(role=Role.CLIENT, subject=subject, scope="viewer")


# -- the finding, with the real caps ------------------------------------------------------------------
def test_one_viewer_filling_its_sessions_leaves_room_for_the_host_and_the_client(
    ctx: AppContext, workspace: Path
) -> None:
    record, _ = ctx.registry.add(workspace)
    viewer = _viewer("tok_viewer")
    opened = 0
    with pytest.raises(ConflictError, match="this token"):
        for _ in range(MAX_SESSIONS + 1):
            ctx.files.create_session(viewer, record.id, ttl=MAX_TTL_SECONDS, write=False)
            opened += 1
    assert opened == MAX_SESSIONS_PER_TOKEN
    for caller in (HOST, CLIENT):
        session = ctx.files.create_session(caller, record.id, ttl=MAX_TTL_SECONDS, write=True)
        assert session.subject == caller.subject
    ctx.files.close()


def test_many_minted_tokens_hit_the_backstop_but_never_the_host_or_the_client() -> None:
    store = SessionStore()
    refused = 0
    for index in itertools.count():
        try:
            store.create(workspace_id="ws", subject=f"tok_{index // MAX_SESSIONS_PER_TOKEN}", write=False, ttl=60)
        except ConflictError as exc:
            assert "minted tokens together" in exc.message
            refused += 1
            break
    assert refused and sum(store.held_by(f"tok_{i}") for i in range(index)) == MAX_SESSIONS
    for subject in RESERVED:
        store.create(workspace_id="ws", subject=subject, write=False, ttl=60, minted=False)


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Let the loop run until ``condition`` holds; bounded in loop turns, not in time."""
    for _ in range(SETTLE_STEPS):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{what} did not happen within {SETTLE_STEPS} loop turns")


async def _ask(svc: ApprovalService, who: str, *, minted: bool = True) -> asyncio.Task[None]:
    """Start a request and return once it is queued or refused (then the task is done)."""
    before = {p.id for p in svc.pending()}
    task = asyncio.create_task(svc.require(workspace_id="ws", who=who, action="write", paths=[], minted=minted))
    await _until(lambda: task.done() or any(p.id not in before for p in svc.pending()), f"{who}'s request settling")
    return task


async def _finish(svc: ApprovalService, tasks: list[asyncio.Task[None]]) -> None:
    for pending in svc.pending():
        svc.reply(pending.id, "deny")
    for task in tasks:
        with pytest.raises((WriteDenied, ConflictError)):
            await asyncio.wait_for(task, APPROVAL_TIMEOUT_MS / 1000)
    assert svc.pending() == []


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "openwork.db")
    yield database
    database.close()


@pytest.mark.anyio
async def test_one_token_filling_its_approvals_leaves_room_for_the_host_and_the_client(db: Database) -> None:
    svc = ApprovalService(db=db, bus=EventBus(), mode="manual", timeout_ms=APPROVAL_TIMEOUT_MS)
    tasks: list[asyncio.Task[None]] = []
    try:
        for _ in range(MAX_PENDING + 1):
            tasks.append(task := await _ask(svc, "tok_viewer"))
            if task.done():
                break
        assert svc.held_by("tok_viewer") == MAX_PENDING_PER_TOKEN
        assert isinstance(tasks[-1].exception(), ConflictError)
        for subject in RESERVED:
            tasks.append(task := await _ask(svc, subject, minted=False))
            assert not task.done() and svc.held_by(subject) == 1
    finally:
        await _finish(svc, tasks)


# -- the class, as a property ------------------------------------------------------------------------
_OPS = st.lists(
    st.tuples(st.sampled_from(("open", "close", "expire", "ask", "answer")), st.integers(0, len(MINTED) - 1)),
    max_size=60,
)


def _check_session_caps(store: SessionStore) -> None:
    assert all(store.held_by(t) <= SMALL.per_token for t in MINTED)
    assert sum(store.held_by(t) for t in MINTED) <= SMALL.minted_total
    for subject in RESERVED:  # the host's and the client's next open never fails; the probe is closed again
        probe = store.create(workspace_id="ws", subject=subject, write=True, ttl=60, minted=False)
        store.close(probe.id, subject)


async def _check_approval_caps(svc: ApprovalService) -> None:
    assert all(svc.held_by(t) <= SMALL.per_token for t in MINTED)
    assert sum(svc.held_by(t) for t in MINTED) <= SMALL.minted_total
    for subject in RESERVED:  # the next request is queued, not refused; then denied and gone
        probe = await _ask(svc, subject, minted=False)
        assert not probe.done(), probe.exception()
        [queued] = [p for p in svc.pending() if p.who == subject]
        svc.reply(queued.id, "deny")
        with pytest.raises(WriteDenied):
            await asyncio.wait_for(probe, APPROVAL_TIMEOUT_MS / 1000)


async def _run(ops: list[tuple[str, int]], db: Database) -> None:
    now = [1000.0]
    store = SessionStore(clock=lambda: now[0], cap=SMALL)
    svc = ApprovalService(db=db, bus=EventBus(), mode="manual", timeout_ms=APPROVAL_TIMEOUT_MS, cap=SMALL)
    opened: dict[str, list[str]] = {t: [] for t in MINTED}
    tasks: list[asyncio.Task[None]] = []
    try:
        for kind, index in ops:
            token = MINTED[index]
            if kind == "open":
                full = store.held_by(token) >= SMALL.per_token or sum(map(store.held_by, MINTED)) >= SMALL.minted_total
                try:
                    opened[token].append(store.create(workspace_id=f"ws{index}", subject=token, write=False, ttl=60).id)
                    assert not full
                except ConflictError:
                    assert full
            elif kind == "close" and opened[token]:
                store.close(opened[token].pop(), token)  # "expire" forgets what it expired: this one is live
            elif kind == "expire":
                now[0] += 61  # every session so far expires; the reap on the next call frees the shares
                opened = {t: [] for t in MINTED}
            elif kind == "ask":
                full = svc.held_by(token) >= SMALL.per_token or sum(map(svc.held_by, MINTED)) >= SMALL.minted_total
                tasks.append(task := await _ask(svc, token))
                assert task.done() == full
                if full:
                    assert isinstance(task.exception(), ConflictError)
            elif kind == "answer" and svc.pending():
                answered = svc.pending()[index % len(svc.pending())].id
                svc.reply(answered, "allow" if index % 2 else "deny")
                await _until(
                    lambda gone=answered: all(p.id != gone for p in svc.pending()), "the answer leaving the queue"
                )
            _check_session_caps(store)
            await _check_approval_caps(svc)
    finally:
        await _finish(svc, [t for t in tasks if not t.done()])
        for task in tasks:  # every task ended: none is left running past the example
            assert task.done()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_OPS)
def test_minted_tokens_never_crowd_out_the_host_or_the_client_and_never_pass_their_caps(
    ops: list[tuple[str, int]], db: Database
) -> None:
    asyncio.run(_run(ops, db))


def test_the_host_and_the_client_token_have_their_own_share_too() -> None:
    store = SessionStore(cap=SMALL)
    for subject in RESERVED:
        for _ in range(SMALL.per_token):
            store.create(workspace_id="ws", subject=subject, write=False, ttl=60, minted=False)
        with pytest.raises(ConflictError, match="this token"):
            store.create(workspace_id="ws", subject=subject, write=False, ttl=60, minted=False)
    assert store.held_by(MINTED[0]) == 0
    store.create(workspace_id="ws", subject=MINTED[0], write=False, ttl=60)  # the backstop counts minted only
