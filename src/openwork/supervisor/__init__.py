"""Supervision of child processes: spawn, health-gate, restart with backoff, stop the whole tree.

Import the submodules themselves (``openwork.supervisor.service`` ...): the thin CLI commands read
``records`` and must not pay for asyncio and the log hub on every call.
"""
