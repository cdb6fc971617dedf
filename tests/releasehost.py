"""A real local HTTP server playing a release host: manifests and artefacts, good and hostile."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes
    declared_length: int | None = None  # lie about Content-Length (truncation)
    delay_before_body: float = 0.0  # stall after the headers (read timeout)
    chunk_delay: float = 0.0  # pace the body (overlapping downloads)


@dataclass
class ReleaseHost:
    routes: dict[str, Route] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> ReleaseHost:
        host = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                host.hits[self.path] = host.hits.get(self.path, 0) + 1
                route = host.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                length = route.declared_length if route.declared_length is not None else len(route.body)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                if route.delay_before_body:
                    time.sleep(route.delay_before_body)
                try:
                    step = 64 * 1024
                    for i in range(0, len(route.body), step):
                        self.wfile.write(route.body[i : i + step])
                        if route.chunk_delay:
                            time.sleep(route.chunk_delay)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                if route.declared_length is not None:
                    self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
