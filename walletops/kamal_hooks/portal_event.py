"""Send one Kamal hook run to the ops portal: ``POST /api/v1/admin/ops/deploys/events``. Standard library only.

Kamal (2.12.0, ``Cli::Base#run_hook``) runs a hook with ``KAMAL_*`` variables and, for pre-deploy and
post-deploy, the app's secrets too: only the ``KAMAL_*`` names below are sent. The portal is told, never
waited on: the request has ``OPSPORTAL_HOOK_WAIT_SECONDS`` (default 5) in all, and whatever happens the
hook goes on (exit 0) and says so, so a portal that is down never fails a deploy.

Set in the deploying machine's environment or in ``.kamal/secrets`` (Kamal hands secrets to these hooks):
``OPSPORTAL_HOOK_URL`` (the portal's base URL; unset: nothing is sent) and ``OPSPORTAL_HOOK_TOKEN`` (an API
token with the ``deploys:write`` scope).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import urllib.error
import urllib.request

PATH = "/api/v1/admin/ops/deploys/events"
VARIABLES = (
    "KAMAL_RECORDED_AT", "KAMAL_PERFORMER", "KAMAL_DESTINATION", "KAMAL_VERSION", "KAMAL_SERVICE_VERSION",
    "KAMAL_SERVICE", "KAMAL_HOSTS", "KAMAL_ROLES", "KAMAL_LOCK", "KAMAL_COMMAND", "KAMAL_SUBCOMMAND", "KAMAL_RUNTIME",
)  # fmt: skip


def _wait_seconds(environ) -> float:
    try:
        return min(max(float(environ.get("OPSPORTAL_HOOK_WAIT_SECONDS") or 5), 0.1), 60.0)
    except ValueError:
        return 5.0


def send(hook: str, environ=None) -> int:
    """Post the hook's variables; always 0 (the deploy goes on), with one line on stderr saying what happened."""
    environ = os.environ if environ is None else environ
    base = (environ.get("OPSPORTAL_HOOK_URL") or "").rstrip("/")
    if not base:
        print(f"{hook}: OPSPORTAL_HOOK_URL is not set; the portal is not told", file=sys.stderr)
        return 0
    if not base.startswith(("http://", "https://")):
        print(f"{hook}: OPSPORTAL_HOOK_URL is not an http(s) URL; the portal is not told", file=sys.stderr)
        return 0
    body = json.dumps({"hook": hook, "variables": {name: environ[name] for name in VARIABLES if name in environ}})
    request = urllib.request.Request(  # noqa: S310  (an http(s) URL, checked above)
        base + PATH,
        data=body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {environ.get('OPSPORTAL_HOOK_TOKEN', '')}",
            # The same run posted again (a retried hook) is answered once by the portal's API kit.
            "Idempotency-Key": "kamal-hook-" + hashlib.sha256(body.encode()).hexdigest()[:40],
        },
    )
    wait = _wait_seconds(environ)
    outcome: list[str] = []

    def post() -> None:
        try:
            with urllib.request.urlopen(request, timeout=wait) as response:  # noqa: S310  (http(s) only)
                outcome.append(f"the portal recorded it ({response.status})")
        except urllib.error.HTTPError as refused:
            outcome.append(f"the portal refused it ({refused.code}: {refused.read(300).decode('utf-8', 'replace')})")
        except Exception as exc:  # noqa: BLE001  (any failure: the deploy must go on)
            outcome.append(f"the portal did not answer ({type(exc).__name__}: {exc})")

    # A thread bounds the whole exchange (name lookup, connect, TLS, answer), not each socket step.
    sender = threading.Thread(target=post, daemon=True)
    sender.start()
    sender.join(wait)
    said = outcome[0] if outcome else f"the portal did not answer within {wait:g}s"
    print(f"{hook}: {said}; the deploy goes on", file=sys.stderr)
    return 0
