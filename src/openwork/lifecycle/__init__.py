"""The one process's lifecycle. Read ``openwork serve`` in this order:

``openwork.cli.serve.run_server`` (settings from ``cli.serveconfig``, then logging) → ``launch.prepare``
(lock the data dir, bind, resolve and verify the binaries, load credentials) → ``server.serve`` (the stack
spawns opencode from the event loop; the HTTP half, ``httpserver``, is built in a thread while it boots;
ready → ``ready.print_ready``) → a signal or ``POST /shutdown`` (``signals``) → stop in order.
"""
