"""Persistent state: atomic files and the SQLite database."""

from openwork.store.atomic import ensure_private_dir, read_text, write_atomic
from openwork.store.db import Database

__all__ = ["Database", "ensure_private_dir", "read_text", "write_atomic"]
