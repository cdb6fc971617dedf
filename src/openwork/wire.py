"""The base of every model that goes on the wire: snake_case in Python, camelCase in JSON.

It lives at the package root, not under ``openwork.api``, because domain packages (supervisor, files,
workspaces, ...) describe their own objects with it and must not import the HTTP layer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["WireModel", "iso", "iso_or_none"]


def iso(timestamp: float) -> str:
    """A Unix time as the V2 contract writes times: ISO 8601, UTC, milliseconds, ``Z``."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_or_none(timestamp: float | None) -> str | None:
    return None if timestamp is None else iso(timestamp)


class WireModel(BaseModel):
    """An answer or event payload. Serialize it with ``by_alias=True`` (FastAPI does for a ``response_model``);
    ``wire()`` does it for the event bus and the few places that still want a plain dict."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    def wire(self) -> dict[str, Any]:
        """The JSON-ready dict, camelCase keys."""
        return self.model_dump(by_alias=True, mode="json")
