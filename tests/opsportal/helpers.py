"""Helpers shared by the portal's tests: the dashboard's address and panels, settings checks, the OpenAPI schema."""

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime
from io import StringIO
from pathlib import Path

import jsonschema
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = "/admin/ops/"


def panel_html(body: str, name: str) -> str:
    match = re.search(rf'<section class="ops-panel ops-panel-{name}".*?</section>', body, re.S)
    assert match, f"no {name} panel"
    return match.group(0)


@dataclass
class Snap:
    taken_at: datetime
    status: str = "healthy"
    issues: list[str] = field(default_factory=list)
    queue_depth: int = 0
    total: int = 100
    covered: int = 100
    disabled: int = 0


SECRET = "kq3V8m-Zp1rT0sLw9yXc7BnE4uH2jG6fD5aQ_oR8iY3vW1tN0mK9lJ7hP4gF2dS6"
OPS_TOKEN = "prod-token-of-at-least-32-characters"  # production refuses a shorter one
SAFE_PRODUCTION = {
    "DJANGO_ENV": "production",
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "kq3V8m-Zp1rT0sLw9yXc7BnE4uH2jG6fD5aQ_oR8iY3vW1tN0mK9lJ7hP4gF2dS6",
    "DJANGO_ALLOWED_HOSTS": "ops.example.com",
    "OPSPORTAL_BASE_URL": "https://ops.example.com",
    "DATABASE_URL": "sqlite:///:memory:",
}


def manage_check(**env_vars) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OPS_"))}
    env.update(DJANGO_SETTINGS_MODULE="opsportal.settings", **env_vars)
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def openapi_schema() -> dict:
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out)
    return json.loads(out.getvalue())


def schema_validator(schema: dict, component: str):
    # Resolve "#/components/..." references against the whole document.
    return jsonschema.Draft202012Validator(
        {**schema["components"]["schemas"][component], "components": schema["components"]}
    )
