"""Writes that wait for the host's decision (manual approval mode)."""
