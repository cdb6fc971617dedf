"""Supervision of child processes: spawn, health-gate, restart with backoff, stop the whole tree.

Import the submodules themselves (``openwork.supervisor.service`` ...): the thin CLI commands read
``records`` and must not pay for asyncio and structlog on every call.
"""
