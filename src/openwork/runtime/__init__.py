"""The running stack: opencode (and the optional router) under supervision, plus what they need.

Import the submodules themselves (``openwork.runtime.stack`` ...): the launch path imports
``runtime.ports`` and ``runtime.opencode`` before opencode is spawned and must not pay for the rest.
"""
