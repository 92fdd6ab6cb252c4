"""Schemathesis against the live dev server: every operation of the OpenAPI contract, with and without credentials.

The portal runs as its own process (``runserver``) on the test's PostgreSQL, with the
private Docker engines, a private Prometheus and a deploy_info.json behind it, so the
generated requests reach real answers rather than outages. ``OPSPORTAL_FUZZ_EXAMPLES``
sets the examples per operation (``make fuzz`` runs a long campaign).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.postgres_only
HERE = Path(__file__).resolve().parent
EXAMPLES = int(os.environ.get("OPSPORTAL_FUZZ_EXAMPLES", "15"))
OPS_TOKEN = "fuzz-ops-token-0123456789"
# Each check guards one promise of the contract: no 5xx but the documented 503s (our own check,
# in hooks.py, instead of not_a_server_error which refuses every 5xx), responses and
# status codes as documented, bad input refused, and no way around auth.
CHECKS = [
    "no_undocumented_server_error", "status_code_conformance", "content_type_conformance",
    "response_headers_conformance", "response_schema_conformance", "negative_data_rejection", "ignored_auth",
    "missing_required_header", "unsupported_method",
]  # fmt: skip


@pytest.fixture
def fuzzed_portal(live_portal):
    server = live_portal(
        deploy_info={"current_tag": "v1", "previous_tag": None, "commit_sha": "abc", "deployed_by": "ci",
                     "deployed_at": "2026-11-23T09:12:00Z"},
        OPS_TOKEN=OPS_TOKEN,
        # The fuzzer calls from loopback: no address is let in without a token, so /metrics needs auth too.
        OPSPORTAL_METRICS_ALLOWED_IPS="192.0.2.1",
        # A generated follow=true is a live stream: it ends after a second of it, not at the fuzzer's timeout.
        WALLETOPS_LOG_STREAM_MAX_SECONDS="1",
    )  # fmt: skip
    _wait_for_scrapes(server)
    return server


def _wait_for_scrapes(server, timeout: float = 60) -> None:
    """Prometheus answers 503 until it has scraped the exporters; fuzz the real answers, not the warm-up."""
    import time

    import httpx

    from opsportal.api.tokens import api_token_create

    token = api_token_create(name="warm-up", scopes=["read"]).secret
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = httpx.get(f"{server.url}/api/v1/admin/ops/hosts", headers={"Authorization": f"Bearer {token}"})
        if response.status_code == 200 and all(h["cpu_util"] is not None for h in response.json()["hosts"]):
            return
        time.sleep(0.2)  # Prometheus scrapes every second: a ready answer is read within a fifth of one
    raise AssertionError(f"Prometheus never answered with host figures: {response.text[:300]}")


def _schemathesis(portal, schema, report, *options: str, checks=CHECKS) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", str(schema), "--url", portal.url, *options,
        "--max-examples", str(EXAMPLES), "--checks", ",".join(checks), "--seed", "20261123",
        "--request-timeout", "30", "--workers", "2", "--no-color", "--generation-database", "none",
        "--report", "junit", "--report-junit-path", str(report),
    ]  # fmt: skip
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz.hooks"}
    return subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)


# The operator's actions, fuzzed once more with a token that may do them (a machine token: its scopes decide),
# so generated input reaches the actions themselves and not only the read token's 403.
ACTION_SCOPES = ("plannings:operate", "jobs:control", "alerts:mute", "alerts:test")
ACTION_PATHS = r"^/api/v1/admin/ops/(plannings|jobs/|alerts/\{id\}/|alert-channels/)"


@pytest.mark.parametrize("credentials", ["valid", "none", "actions"])
def test_every_operation_holds_its_contract_under_generated_input(fuzzed_portal, token_for, tmp_path, credentials):
    schema = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(schema), "--validate")
    if credentials == "actions":
        from tests import factories

        factories.plannings_make(3, school="fuzz")
        bearer = f"Authorization: Bearer {token_for(*ACTION_SCOPES, name='fuzz-actions')}"
        report = tmp_path / "junit-actions.xml"
        runs = [_schemathesis(fuzzed_portal, schema, report, "--header", bearer, "--include-path-regex", ACTION_PATHS)]
        fuzzed = report.read_text() if report.exists() else ""
        for operation in (
            "POST /api/v1/admin/ops/plannings/bulk",
            "POST /api/v1/admin/ops/jobs/pause",
            "POST /api/v1/admin/ops/alerts/{id}/mute",
            "POST /api/v1/admin/ops/alert-channels/{id}/test",
        ):
            assert operation in fuzzed, f"{operation} was not fuzzed"  # fmt: skip
    elif credentials == "valid":
        bearer, ops = f"Authorization: Bearer {token_for('read', name='fuzz')}", f"x-ops-token: {OPS_TOKEN}"
        runs = [_schemathesis(fuzzed_portal, schema, tmp_path / "junit.xml", "--header", bearer, "--header", ops)]
    else:
        # Upstream's refusal: without the right x-ops-token, /api/ops/plannings answers 404 to every
        # method so that a caller cannot tell it exists (a 405 would reveal it). It is fuzzed without
        # the undeclared-method check; every other operation with all checks.
        plannings = "/api/ops/plannings"
        runs = [
            _schemathesis(fuzzed_portal, schema, tmp_path / "junit.xml", "--exclude-path", plannings),
            _schemathesis(fuzzed_portal, schema, tmp_path / "junit-plannings.xml", "--include-path", plannings,
                          checks=[check for check in CHECKS if check != "unsupported_method"]),
        ]  # fmt: skip
    for result in runs:
        summary = result.stdout[-6000:]
        assert result.returncode == 0, f"schemathesis found failures:\n{summary}\n{result.stderr[-2000:]}"
        cases = re.search(r"Test cases:\s+(\d+ generated[^\n]*)", summary)
        assert cases, summary
        # make fuzz shows it (pytest -rP)
        print(f"fuzz, {credentials} credentials, {EXAMPLES} examples per operation: {cases.group(1)}")
