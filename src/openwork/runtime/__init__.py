"""The running stack: opencode (and later the router) under supervision, plus what they need."""

from openwork.runtime.opencode import OpencodeDriver, opencode_env
from openwork.runtime.stack import Stack

__all__ = ["OpencodeDriver", "Stack", "opencode_env"]
