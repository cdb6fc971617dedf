"""Named defaults. Every wait in openwork has a deadline, and every deadline lives here."""

from __future__ import annotations

__all__ = [
    "BACKGROUND_NICENESS",
    "DEFAULT_APPROVAL_TIMEOUT_MS",
    "DEFAULT_BACKOFF_INITIAL",
    "DEFAULT_BACKOFF_MAX",
    "DEFAULT_BACKOFF_RESET_AFTER",
    "DEFAULT_HEALTH_POLL_INTERVAL",
    "DEFAULT_HEALTH_REQUEST_TIMEOUT",
    "DEFAULT_HOT_RELOAD_COOLDOWN_MS",
    "DEFAULT_HOT_RELOAD_DEBOUNCE_MS",
    "DEFAULT_HTTP_TIMEOUT",
    "DEFAULT_LIVENESS_FAILURES",
    "DEFAULT_LIVENESS_INTERVAL",
    "DEFAULT_LIVENESS_TIMEOUT",
    "DEFAULT_LOG_FILE_BACKUPS",
    "DEFAULT_LOG_FILE_MAX_BYTES",
    "DEFAULT_LOG_RING_LINES",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_FAILURES",
    "DEFAULT_MAX_LINE_BYTES",
    "DEFAULT_OPENCODE_PORT",
    "DEFAULT_PORT",
    "DEFAULT_PROXY_MAX_BODY",
    "DEFAULT_RESTART_WINDOW",
    "DEFAULT_RESTART_WINDOW_MAX",
    "DEFAULT_SANDBOX_IMAGE",
    "DEFAULT_SSE_KEEPALIVE",
    "DEFAULT_SSE_QUEUE",
    "DEFAULT_START_PROBE_TIMEOUT",
    "DEFAULT_START_TIMEOUT",
    "DEFAULT_STOP_TIMEOUT",
    "DEFAULT_VERSION_TIMEOUT",
    "HTTP_SHUTDOWN_TIMEOUT",
    "LOG_CONSOLE_ENV",
    "LOOPBACK",
    "MAX_TOKEN_CHARS",
]

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8787  # the original openwork-server's port; users' bookmarks point here
DEFAULT_OPENCODE_PORT = 4096  # preferred; any free port is used when it is taken
DEFAULT_START_TIMEOUT = 10.0  # spawn -> health endpoint answers
DEFAULT_HEALTH_POLL_INTERVAL = 0.25  # between health probes while starting
DEFAULT_HEALTH_REQUEST_TIMEOUT = 2.0  # one health probe of a running service
# opencode accepts connections before it can answer them, and a request sent in that window hangs;
# during start we give up on a probe quickly and send the next one instead.
DEFAULT_START_PROBE_TIMEOUT = 0.5
DEFAULT_STOP_TIMEOUT = 10.0  # SIGTERM -> SIGKILL
HTTP_SHUTDOWN_TIMEOUT = 5  # seconds the HTTP server drains at a stop; open event streams end first
DEFAULT_PROXY_MAX_BODY = 64 * 1024 * 1024  # a request body through the opencode proxy (prompts, attachments)
DEFAULT_HOT_RELOAD_DEBOUNCE_MS = 700  # quiet time after a config change before the instance is disposed
DEFAULT_HOT_RELOAD_COOLDOWN_MS = 1500  # at most one dispose per workspace in this long
# What `--sandbox` runs when no --sandbox-image is given: glibc and a shell are all opencode needs.
DEFAULT_SANDBOX_IMAGE = "docker.io/library/debian:bookworm-slim"
DEFAULT_BACKOFF_INITIAL = 0.5  # first restart delay
DEFAULT_BACKOFF_MAX = 30.0  # restart delay cap
DEFAULT_BACKOFF_RESET_AFTER = 60.0  # healthy this long -> failure count resets
DEFAULT_MAX_FAILURES = 10  # consecutive failures before giving up
DEFAULT_RESTART_WINDOW_MAX = 10  # ... or this many failures inside the window, consecutive or not
DEFAULT_RESTART_WINDOW = 600.0  # seconds (10 minutes): the window of that budget
DEFAULT_LIVENESS_INTERVAL = 5.0  # between liveness probes of a running service (start to start)
DEFAULT_LIVENESS_FAILURES = 3  # consecutive failed liveness probes -> the child is hung
DEFAULT_LIVENESS_TIMEOUT = 10.0  # one liveness probe unanswered this long -> the child is hung
DEFAULT_VERSION_TIMEOUT = 4.0  # `<bin> --version`
# Added to the nice value of our own start-up threads and background checks while opencode boots or the
# first requests come: they yield the CPU instead of competing for it.
BACKGROUND_NICENESS = 10
DEFAULT_HTTP_TIMEOUT = 10.0  # CLI -> server requests
DEFAULT_LOG_RING_LINES = 800  # per service, as the original TUI
DEFAULT_LOG_FILE_MAX_BYTES = 10 * 1024 * 1024  # the log file rotates past this...
LOG_CONSOLE_ENV = "OPENWORK_LOG_CONSOLE"  # the console's least level (no flag: `daemon start` sets it)
DEFAULT_LOG_FILE_BACKUPS = 5  # ...keeping this many older files: at most 60 MiB of logs
DEFAULT_MAX_LINE_BYTES = 64 * 1024  # a longer child output line is cut here
DEFAULT_MAX_BODY_BYTES = 1024 * 1024  # JSON request bodies
DEFAULT_SSE_QUEUE = 256  # events buffered per subscriber before the oldest are dropped
DEFAULT_SSE_KEEPALIVE = 15.0  # comment frame on an idle stream
DEFAULT_APPROVAL_TIMEOUT_MS = 30_000
MAX_TOKEN_CHARS = 512  # longer presented tokens are refused before hashing
