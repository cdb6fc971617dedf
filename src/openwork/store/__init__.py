"""Persistent state: atomic files (``store.atomic``) and the SQLite database (``store.db``).

Nothing is imported here: the thin CLI reads one file through ``store.atomic`` and must not pay for
the database layer.
"""
