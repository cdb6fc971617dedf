"""Auth dependencies for routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from openwork.api.context import AppContext
from openwork.auth.principal import Principal, authenticate
from openwork.errors import ForbiddenError

__all__ = ["Caller", "Ctx", "Host", "context"]


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(context)]


def caller(
    ctx: Ctx,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_openwork_host_token: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    return authenticate(
        authorization=authorization,
        host_header_token=x_openwork_host_token,
        credentials=ctx.credentials,
        tokens=ctx.tokens,
    )


Caller = Annotated[Principal, Depends(caller)]


def host_only(principal: Caller) -> Principal:
    if not principal.is_host:
        raise ForbiddenError("this route needs the host token")
    return principal


Host = Annotated[Principal, Depends(host_only)]
