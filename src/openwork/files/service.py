"""File sessions over workspaces: what the HTTP routes call. Blocking work runs in worker threads."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openwork.approvals.service import ApprovalService
from openwork.auth.principal import Access, Principal
from openwork.errors import ForbiddenError, NotFoundError, OpenworkError, ValidationError, storage_full
from openwork.files import catalog, ops
from openwork.files.caps import Caps
from openwork.files.changes import ChangeLog, InotifyWatcher
from openwork.files.pathrules import check_path, open_root
from openwork.files.protected import CODE_CONFIG, ProtectedSet, touches
from openwork.files.sessions import FileSession, SessionStore
from openwork.files.tempjournal import JOURNAL_NAME, TempJournal
from openwork.workspaces.registry import WorkspaceRegistry

__all__ = ["Caps", "FilesService"]


@dataclass
class _Workspace:
    root: Path
    protected: tuple[tuple[str, ...], ...] = ()  # the protected set's roots inside this workspace
    lock: threading.Lock = field(default_factory=threading.Lock)  # check-then-write is one step
    changes: ChangeLog = field(default_factory=ChangeLog)
    watcher: InotifyWatcher | None = None


def _error(path: object, exc: OpenworkError) -> dict[str, Any]:
    return {
        "path": path if isinstance(path, str) else None,
        "ok": False,
        "error": {"code": exc.code, "message": exc.message},
    }


class FilesService:
    def __init__(
        self,
        *,
        registry: WorkspaceRegistry,
        approvals: ApprovalService,
        protected: ProtectedSet,
        allow_config_write: bool = False,
        caps: Caps | None = None,
        state_dir: Path | None = None,
    ) -> None:
        """``state_dir`` (the server's ``<data>/run``) holds the journal of temp files in flight; the
        leftovers of a crashed run that it lists are removed here, before any write."""
        self.registry = registry
        self.approvals = approvals
        self.sessions = SessionStore()
        self.caps = caps or Caps()
        self.protected = protected
        self.allow_config_write = allow_config_write
        self._workspaces: dict[str, _Workspace] = {}
        self._states_lock = threading.Lock()
        self.temp_journal = TempJournal(state_dir / JOURNAL_NAME) if state_dir is not None else None
        if self.temp_journal is not None:
            self.temp_journal.recover()

    # -- sessions -------------------------------------------------------------------------------
    def _state(self, workspace_id: str) -> _Workspace:
        """Runs in worker threads (a registry read): one lock, so a workspace gets exactly one watcher."""
        record = self.registry.get(workspace_id).require_local()
        with self._states_lock:
            state = self._workspaces.get(workspace_id)
            if state is None or str(state.root) != record.path:
                state = _Workspace(Path(record.path), protected=self.protected.within(record.path))
                watcher = InotifyWatcher(state.root, state.changes, catalog.DEFAULT_EXCLUDES)
                state.watcher = watcher if watcher.start() else None
                self._workspaces[workspace_id] = state
            return state

    def create_session(self, caller: Principal, workspace_id: str, *, ttl: int, write: bool) -> FileSession:
        """Open a session on ``workspace_id`` (a canonical record id the caller may see; the route checked)."""
        if write and not caller.allows(Access.ACT):
            raise ForbiddenError("a write session needs a collaborator token or higher; open it with write: false")
        self._state(workspace_id)
        return self.sessions.create(
            workspace_id=workspace_id, subject=caller.subject, write=write, ttl=ttl, minted=caller.is_minted
        )

    def session(self, caller: Principal, session_id: str) -> tuple[FileSession, _Workspace]:
        session = self.sessions.get(session_id, caller.subject)
        if not caller.sees(session.workspace_id):
            # A session carries its token's subject, and a token's limitation only ever narrows; this keeps a
            # session from outliving its workspace's place in that limitation.
            raise NotFoundError("no such file session (it may have expired)")
        return session, self._state(session.workspace_id)

    def _guard(self, caller: Principal, ws: _Workspace, parts: tuple[str, ...], *, write: bool, move: bool) -> None:
        """Refuse a path in the protected set, and a change to code config this token may not make."""
        if touches(parts, ws.protected, destructive=move):
            raise ForbiddenError(f"{'/'.join(parts)} holds the server's own files; file sessions cannot reach it")
        if write and touches(parts, CODE_CONFIG, destructive=move) and self._config_locked(caller):
            raise ForbiddenError(
                f"{'/'.join(parts)} is config that runs code (git hooks, opencode config); this token may only "
                "read it (the host can allow writes with --files-allow-config-write)"
            )

    def _config_locked(self, caller: Principal) -> bool:
        if self.allow_config_write or not caller.is_minted:
            return False
        return caller.scope == "collaborator" or self.approvals.mode == "manual"

    # -- reading ----------------------------------------------------------------------------------
    async def catalog(
        self,
        caller: Principal,
        session_id: str,
        *,
        prefix: str | None,
        after: str | None,
        limit: int | None,
        include_dirs: bool,
    ) -> dict[str, Any]:
        _, ws = await asyncio.to_thread(self.session, caller, session_id)  # a registry read: off the loop
        count = min(max(limit or self.caps.catalog_default, 1), self.caps.catalog_limit)
        cursor = ws.changes.cursor  # taken first: changes during the walk are replayed by events(since)

        def run() -> catalog.CatalogPage:
            root_fd = open_root(str(ws.root))
            try:
                return catalog.snapshot(
                    root_fd,
                    prefix=prefix,
                    after=after,
                    limit=count,
                    include_dirs=include_dirs,
                    hidden=frozenset(ws.protected),
                )
            finally:
                os.close(root_fd)

        page = await asyncio.to_thread(run)
        return {
            "items": [i.to_json() for i in page.items],
            "nextAfter": page.next_after,
            "truncated": page.truncated,
            "cursor": cursor,
        }

    def events(self, caller: Principal, session_id: str, since: str | None) -> dict[str, Any]:
        _, ws = self.session(caller, session_id)
        try:
            start = int(since) if since else 0
        except ValueError:
            raise ValidationError("since must be a cursor from a snapshot or an earlier events call") from None
        items, cursor, truncated = ws.changes.since(max(start, 0), self.caps.events_limit)
        return {"items": [c.to_json() for c in items], "cursor": cursor, "truncated": truncated}

    async def read_batch(self, caller: Principal, session_id: str, paths: list[str]) -> dict[str, Any]:
        _, ws = await asyncio.to_thread(self.session, caller, session_id)
        if len(paths) > self.caps.read_paths:
            raise ValidationError(f"at most {self.caps.read_paths} paths per read batch")

        def run() -> list[dict[str, Any]]:
            results: list[dict[str, Any]] = []
            budget = self.caps.read_bytes
            root_fd = open_root(str(ws.root))
            try:
                for raw in paths:
                    try:
                        parts = check_path(raw)
                        self._guard(caller, ws, parts, write=False, move=False)
                        info, content = ops.read_file(root_fd, parts, max_bytes=min(self.caps.file_bytes, budget))
                        budget -= info.size
                        results.append(
                            {
                                "path": info.path,
                                "ok": True,
                                "contentBase64": content,
                                "size": info.size,
                                "revision": info.revision,
                            }
                        )
                    except OpenworkError as exc:
                        results.append(_error(raw, exc))
                    except OSError as exc:  # one path's trouble is that path's result, never the batch's
                        results.append(_error(raw, ValidationError(exc.strerror or type(exc).__name__)))
            finally:
                os.close(root_fd)
            return results

        return {"items": await asyncio.to_thread(run)}

    # -- writing ----------------------------------------------------------------------------------
    def _writable(self, caller: Principal, session_id: str) -> tuple[FileSession, _Workspace]:
        session, ws = self.session(caller, session_id)
        if not session.write or not caller.allows(Access.ACT):
            raise ForbiddenError("this file session is read-only; open one with write: true")
        return session, ws

    def _plan_writes(
        self, caller: Principal, ws: _Workspace, writes: list[dict[str, Any]], results: list[dict[str, Any] | None]
    ) -> list[tuple[int, tuple[str, ...], bytes, str | None, bool]]:
        """Check and decode each write; a bad one becomes its own result, the rest are returned."""
        planned: list[tuple[int, tuple[str, ...], bytes, str | None, bool]] = []
        total = 0
        for index, item in enumerate(writes):
            try:
                parts = check_path(item.get("path"))
                self._guard(caller, ws, parts, write=True, move=False)
                data = base64.b64decode(str(item.get("contentBase64", "")), validate=True)
            except OpenworkError as exc:
                results[index] = _error(item.get("path"), exc)
                continue
            except (binascii.Error, ValueError):
                results[index] = _error(item.get("path"), ValidationError("contentBase64 is not valid base64"))
                continue
            if len(data) > self.caps.file_bytes:
                results[index] = _error(item.get("path"), ValidationError(f"over {self.caps.file_bytes} bytes"))
                continue
            total += len(data)
            if total > self.caps.write_bytes:
                raise ValidationError(f"a write batch may carry at most {self.caps.write_bytes} bytes")
            planned.append((index, parts, data, item.get("ifMatchRevision"), bool(item.get("force"))))
        return planned

    async def write_batch(self, caller: Principal, session_id: str, writes: list[dict[str, Any]]) -> dict[str, Any]:
        session, ws = await asyncio.to_thread(self._writable, caller, session_id)
        if len(writes) > self.caps.write_files:
            raise ValidationError(f"at most {self.caps.write_files} files per write batch")
        results: list[dict[str, Any] | None] = [None] * len(writes)
        # Decoding up to 32 MiB of base64 is CPU work: done in a worker thread, not on the event loop.
        planned = await asyncio.to_thread(self._plan_writes, caller, ws, writes, results)
        if planned:
            await self.approvals.require(
                workspace_id=session.workspace_id,
                who=caller.subject,
                minted=caller.is_minted,
                action="write",
                paths=[{"path": "/".join(p), "size": len(d)} for _, p, d, _, _ in planned],
            )

        def write(root_fd: int, parts: tuple[str, ...], data: bytes, if_match: str | None, force: bool) -> Any:
            info = ops.write_file(root_fd, parts, data, if_match=if_match, force=force, journal=self.temp_journal)
            ws.changes.record(info.path, "write")
            return {"path": info.path, "ok": True, "size": info.size, "revision": info.revision}

        steps = [
            (index, parts, functools.partial(write, parts=parts, data=data, if_match=m, force=f))
            for index, parts, data, m, f in planned
        ]
        await asyncio.to_thread(_apply_locked, ws, steps, results)
        return {"items": results}

    async def operations(self, caller: Principal, session_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        session, ws = await asyncio.to_thread(self._writable, caller, session_id)
        if len(items) > self.caps.operations:
            raise ValidationError(f"at most {self.caps.operations} operations per request")
        planned: list[tuple[int, str, tuple[str, ...], tuple[str, ...] | None, bool]] = []
        results: list[dict[str, Any] | None] = [None] * len(items)
        for index, item in enumerate(items):
            kind = item.get("type")
            try:
                if kind not in ("mkdir", "delete", "rename"):
                    raise ValidationError("type must be mkdir, delete or rename")
                parts = check_path(item.get("path"))
                to = check_path(item.get("to")) if kind == "rename" else None
                self._guard(caller, ws, parts, write=True, move=kind != "mkdir")
                if to is not None:
                    self._guard(caller, ws, to, write=True, move=True)
            except OpenworkError as exc:
                results[index] = _error(item.get("path"), exc)
                continue
            planned.append((index, str(kind), parts, to, bool(item.get("recursive"))))
        if planned:
            await self.approvals.require(
                workspace_id=session.workspace_id,
                who=caller.subject,
                minted=caller.is_minted,
                action="operations",
                paths=[
                    {"path": "/".join(p), "op": k, **({"to": "/".join(t)} if t else {})} for _, k, p, t, _ in planned
                ],
            )

        def apply(root_fd: int, parts: tuple[str, ...], kind: str, to: tuple[str, ...] | None, recursive: bool) -> Any:
            if kind == "mkdir":
                ops.mkdir(root_fd, parts)
                ws.changes.record(info_path(parts), "mkdir")
            elif kind == "delete":
                ops.delete(root_fd, parts, recursive=recursive)
                ws.changes.record(info_path(parts), "delete")
            else:
                assert to is not None
                ops.rename(root_fd, parts, to)
                ws.changes.record(info_path(parts), "delete")
                ws.changes.record(info_path(to), "write")
            return {"path": info_path(parts), "ok": True, "type": kind}

        steps = [
            (index, parts, functools.partial(apply, parts=parts, kind=k, to=t, recursive=r))
            for index, k, parts, t, r in planned
        ]
        await asyncio.to_thread(_apply_locked, ws, steps, results)
        return {"items": results}

    def close(self) -> None:
        for state in self._workspaces.values():
            if state.watcher is not None:
                with contextlib.suppress(Exception):
                    state.watcher.stop()


def info_path(parts: tuple[str, ...]) -> str:
    return "/".join(parts)


def _apply_locked(
    ws: _Workspace,
    steps: Sequence[tuple[int, tuple[str, ...], Callable[..., dict[str, Any]]]],
    results: list[dict[str, Any] | None],
) -> None:
    """Run each step under the workspace lock (so check-then-write is one step); a failure is that
    path's result, never the batch's."""
    root_fd = open_root(str(ws.root))
    try:
        with ws.lock:
            for index, parts, step in steps:
                try:
                    results[index] = step(root_fd)
                except OpenworkError as exc:
                    results[index] = _error(info_path(parts), exc)
                except OSError as exc:
                    failure = storage_full(exc, info_path(parts)) or ValidationError(exc.strerror or str(exc))
                    results[index] = _error(info_path(parts), failure)
    finally:
        os.close(root_fd)
