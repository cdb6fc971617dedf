"""Which download URLs are acceptable, and how to show one without its credentials."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from openwork.errors import SidecarError

__all__ = ["check_url", "display_url"]


def check_url(url: str) -> None:
    """Only ``https://``, or ``http://`` to a loopback address (a local release host in tests)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return
    raise SidecarError(
        f"refusing to download from {display_url(url)}: only https:// URLs are allowed (http:// on loopback)"
    )


def display_url(url: str) -> str:
    # URLs can carry credentials in their userinfo; never echo those.
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{(':' + str(parts.port)) if parts.port else ''}{parts.path}"
