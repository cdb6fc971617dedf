"""Auth dependencies for routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from openwork.api.context import AppContext
from openwork.auth.principal import Principal, authenticate
from openwork.errors import ForbiddenError

__all__ = ["Caller", "Ctx", "Host", "context"]


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(context)]


def caller(request: Request, ctx: Ctx) -> Principal:
    # The two headers are read here, not declared as ``Header()`` parameters: FastAPI would build a
    # validator for each on every route that authenticates (CPU spent while opencode boots), and they
    # were kept out of the OpenAPI schema anyway.
    return authenticate(
        authorization=request.headers.get("authorization"),
        host_header_token=request.headers.get("x-openwork-host-token"),
        credentials=ctx.credentials,
        tokens=ctx.tokens,
    )


Caller = Annotated[Principal, Depends(caller)]


def host_only(principal: Caller) -> Principal:
    if not principal.is_host:
        raise ForbiddenError("this route needs the host token")
    return principal


Host = Annotated[Principal, Depends(host_only)]
