"""Supervision of child processes: spawn, health-gate, restart with backoff, stop the whole tree."""

from openwork.supervisor.clock import Clock, MonotonicClock
from openwork.supervisor.process import AsyncioSpawner, ProcessHandle, Spawner, SpawnSpec
from openwork.supervisor.records import ChildRecords
from openwork.supervisor.service import Service, ServiceDriver
from openwork.supervisor.state import ExitInfo, ServiceState, ServiceStatus

__all__ = [
    "AsyncioSpawner",
    "ChildRecords",
    "Clock",
    "ExitInfo",
    "MonotonicClock",
    "ProcessHandle",
    "Service",
    "ServiceDriver",
    "ServiceState",
    "ServiceStatus",
    "SpawnSpec",
    "Spawner",
]
