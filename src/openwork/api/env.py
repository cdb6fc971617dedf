"""``/system/env``: the user env store (host only). Values are never answered: a store holds API keys."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from openwork.api.deps import Ctx, Host
from openwork.api.envelope import Envelope, ok
from openwork.logging import REDACTED
from openwork.runtime.envstore import MAX_ENTRIES, save_env_store
from openwork.supervisor.state import RestartOutcome
from openwork.wire import WireModel

__all__ = ["router"]

router = APIRouter(prefix="/system/env", tags=["system"])


class EnvVariable(WireModel):
    name: str
    value: str  # always redacted


class EnvStoreInfo(WireModel):
    """The store's place, its variables (values redacted) and, when the file is not valid, why (the
    children keep its last good values meanwhile)."""

    path: str
    variables: list[EnvVariable]
    error: str | None
    restart: RestartOutcome | None = None  # what ``restart: true`` did to opencode


class EnvUpdate(BaseModel):
    """The whole store (it replaces the file); ``restart``: restart opencode so it gets them now."""

    model_config = ConfigDict(extra="forbid")
    variables: dict[str, str] = Field(max_length=MAX_ENTRIES)
    restart: bool = False


def _info(ctx: Ctx, values: dict[str, str], restart: RestartOutcome | None = None) -> EnvStoreInfo:
    env = ctx.stack.child_env
    return EnvStoreInfo(
        path=str(env.store_path),
        variables=[EnvVariable(name=k, value=REDACTED) for k in sorted(values)],
        error=env.error,
        restart=restart,
    )


@router.get("", response_model=Envelope[EnvStoreInfo])
async def get_env(request: Request, ctx: Ctx, _host: Host) -> Envelope[EnvStoreInfo]:
    values = await asyncio.to_thread(ctx.stack.child_env.store)
    return ok(request, _info(ctx, values))


@router.put("", response_model=Envelope[EnvStoreInfo])
async def put_env(request: Request, body: EnvUpdate, ctx: Ctx, _host: Host) -> Envelope[EnvStoreInfo]:
    """Validated first (names, no ``OPENWORK_*``/``OPENCODE_*``, one-line values): a refused store
    leaves the file as it was. Written atomically; children get it at their next spawn."""
    env = ctx.stack.child_env
    written = await asyncio.to_thread(save_env_store, body.variables, env.store_path)
    await asyncio.to_thread(env.store)  # re-read: clears an earlier error
    outcome = await ctx.stack.opencode.restart() if body.restart else None
    return ok(request, _info(ctx, written, outcome))
