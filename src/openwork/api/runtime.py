"""``/system/runtime/*``: versions, summary and the rolling upgrade (plus the original's ``/runtime/*``)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from openwork.api import v2view
from openwork.api.deps import Ctx, Host, Reader
from openwork.api.envelope import Envelope, ok
from openwork.api.models.runtime import RuntimeSummary, UpgradeResult, Versions, VersionSet
from openwork.sidecars.targets import current_target

__all__ = ["legacy_router", "router"]

router = APIRouter(prefix="/system/runtime", tags=["runtime"])
legacy_router = APIRouter(prefix="/runtime", tags=["legacy"])


class Upgrade(BaseModel):
    """Versions to move to; or the original server's ``services`` (names: each goes to its pinned version)."""

    model_config = ConfigDict(extra="forbid")
    opencodeVersion: str | None = Field(default=None, min_length=1, max_length=64)
    routerVersion: str | None = Field(default=None, min_length=1, max_length=64)
    services: list[Literal["opencode", "opencode-router", "router"]] | None = Field(default=None, max_length=3)

    def targets(self, pinned: VersionSet) -> tuple[str | None, str | None]:
        names = set(self.services or ())
        opencode = self.opencodeVersion or (pinned.opencode_version if "opencode" in names else None)
        router = self.routerVersion or (pinned.router_version if names & {"router", "opencode-router"} else None)
        return opencode, router


async def summary(request: Request, ctx: Ctx, caller: Reader) -> Envelope[RuntimeSummary]:
    """Every managed service: state, pid, version, source, binary path and sha256, policy, last exit; the upgrade."""
    # RuntimeControl still answers a dict (openwork.runtime.control); validating it here types the answer.
    output = caller.is_host  # the services' recent output is their log: the host's to read
    v2 = {
        "opencode": v2view.opencode_health(ctx, output=output),
        "router": v2view.router_health(ctx, output=output),
        "target": current_target(),
    }
    answer = RuntimeSummary.model_validate({**ctx.runtime.summary(), **v2})
    if not output:  # the last exits' lines are the services' log too
        answer = answer.model_copy(update={"services": [s.without_output() for s in answer.services]})
    return ok(request, answer)


async def versions(request: Request, ctx: Ctx, _reader: Reader) -> Envelope[Versions]:
    return ok(request, Versions.model_validate(ctx.runtime.versions()))


async def upgrade(request: Request, body: Upgrade, ctx: Ctx, _host: Host) -> Envelope[UpgradeResult]:
    """Starts the upgrade and answers at once (202); follow it on /system/events or the summary.
    A second call while one runs is a 409."""
    opencode, router = body.targets(Versions.model_validate(ctx.runtime.versions()).pinned)
    state = ctx.runtime.start_upgrade(opencode_version=opencode, router_version=router)
    return ok(request, UpgradeResult(upgrade=state.model()))


for _router in (router, legacy_router):
    _router.add_api_route("/versions", versions, methods=["GET"], response_model=Envelope[Versions])
    _router.add_api_route(
        "/upgrade", upgrade, methods=["POST"], status_code=202, response_model=Envelope[UpgradeResult]
    )
router.add_api_route("/summary", summary, methods=["GET"], response_model=Envelope[RuntimeSummary])
