"""Schemathesis hooks for the fuzz run (loaded through ``SCHEMATHESIS_HOOKS``)."""

import schemathesis


@schemathesis.check
def no_undocumented_server_error(ctx, response, case):
    """A 5xx is a failure unless the operation documents that status (the outage 503s)."""
    del ctx
    if response.status_code >= 500 and str(response.status_code) not in case.operation.responses.status_codes:
        raise AssertionError(f"undocumented server error {response.status_code}: {response.text[:300]}")
