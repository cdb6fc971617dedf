"""One small HTTP/1.1 exchange for the thin CLI.

Plain ``http://`` (the local server on loopback) goes over a socket directly: importing ``http.client``
(the email package, ssl) costs a large part of ``openwork workspace list``'s budget (docs/benchmarks.md).
``https://`` uses ``http.client``. Both send ``Connection: close`` and read one response.
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from openwork.errors import WireError

__all__ = ["WireError", "exchange"]

MAX_RESPONSE_BYTES = 64 * 1024 * 1024


def exchange(
    method: str, url: str, *, headers: dict[str, str], body: bytes | None, timeout: float
) -> tuple[int, bytes]:
    """Send one request; return ``(status, body)``. ``timeout`` bounds the whole exchange."""
    for key, value in headers.items():
        if any(c in key + value for c in "\r\n\x00"):
            raise WireError("header values must not contain line breaks")
    parts = urlsplit(url)
    if parts.scheme == "https":
        return _https(method, url, headers=headers, body=body, timeout=timeout)
    if parts.scheme != "http" or not parts.hostname:
        raise WireError(f"not an http(s) URL: {url}")
    host, port = parts.hostname, parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    deadline = time.monotonic() + timeout
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body or b'')}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(request)
            chunks: list[bytes] = []
            size = 0
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WireError(f"no complete answer within {timeout:g}s")
                sock.settimeout(left)
                chunk = sock.recv(256 * 1024)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise WireError("response too large")
    except OSError as exc:
        raise WireError(f"{type(exc).__name__}: {exc.strerror or exc}") from exc
    return _parse(b"".join(chunks))


def _parse(raw: bytes) -> tuple[int, bytes]:
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        raise WireError("incomplete HTTP response")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    fields = status_line.split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise WireError("not an HTTP response")
    headers = {}
    for line in header_lines:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return int(fields[1]), _dechunk(rest)
    length = headers.get("content-length")
    if length is not None and length.isdigit():
        if len(rest) < int(length):
            raise WireError("response body shorter than its Content-Length")
        rest = rest[: int(length)]
    return int(fields[1]), rest


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while True:
        line, sep, data = data.partition(b"\r\n")
        if not sep:
            raise WireError("truncated chunked body")
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return bytes(out)
        if len(data) < size + 2:
            raise WireError("truncated chunked body")
        out += data[:size]
        data = data[size + 2 :]


def _https(method: str, url: str, *, headers: dict[str, str], body: bytes | None, timeout: float) -> tuple[int, bytes]:
    import http.client

    parts = urlsplit(url)
    conn = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        conn.request(method, (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), body, headers)
        response = conn.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise WireError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        conn.close()
