"""The loopback clients skip loading a CA bundle; an https URL given to them must fail, not go unverified."""

from __future__ import annotations

import ssl

from openwork.runtime.loopback import no_tls


def test_no_tls_context_trusts_nothing_and_still_verifies() -> None:
    ctx = no_tls()
    assert ctx.verify_mode is ssl.CERT_REQUIRED
    assert ctx.check_hostname is True
    assert ctx.cert_store_stats()["x509_ca"] == 0  # no CA: every certificate is rejected
    assert no_tls() is not ctx  # never shared, so nobody can add trust to everyone's context
