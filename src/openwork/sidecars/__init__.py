"""Locating, fetching and verifying the binaries the stack runs (opencode, the router).

Import the submodules themselves (``openwork.sidecars.resolver`` ...): the launch path resolves a
cached binary before opencode is spawned and must not pay for the download and archive code.
"""
