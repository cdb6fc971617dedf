"""Credentials: the server's own client and host tokens (``auth.credentials``), minted scoped tokens
(``auth.tokens``) and request authentication (``auth.principal``). Import the submodules directly.
"""
