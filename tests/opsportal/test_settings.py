"""Start-up settings: production refuses unsafe values, and bad values name their variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.opsportal.helpers import SAFE_PRODUCTION, manage_check

ROOT = Path(__file__).resolve().parents[2]


def test_safe_production_settings_start():
    result = manage_check(**SAFE_PRODUCTION)
    assert result.returncode == 0, result.stderr


def test_production_settings_pass_djangos_deployment_checklist_without_warnings():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OPS_"))}
    env.update(DJANGO_SETTINGS_MODULE="opsportal.settings", **SAFE_PRODUCTION)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"DJANGO_DEBUG": "true"}, "DJANGO_DEBUG is on"),
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY is the development default"),
        ({"DJANGO_SECRET_KEY": "short"}, "shorter than 50 characters"),
        ({"DJANGO_SECRET_KEY": "ab" * 40}, "not random"),
        ({"DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS is empty"),
        ({"OPS_TOKEN": "x" * 31}, "OPS_TOKEN is shorter than 32 characters"),
        ({"OPS_TOKEN": "prod-token"}, "OPS_TOKEN is shorter than 32 characters"),
        ({"OPSPORTAL_BASE_URL": ""}, "OPSPORTAL_BASE_URL is not set"),
        ({"OPSPORTAL_BASE_URL": "ops.example.com"}, "OPSPORTAL_BASE_URL is not set"),
    ],
)
def test_production_refuses_each_unsafe_setting_by_name(override, message):
    result = manage_check(**{**SAFE_PRODUCTION, **override})
    assert result.returncode != 0
    assert "Refusing to start with DJANGO_ENV=production" in result.stderr
    assert message in result.stderr


@pytest.mark.parametrize("token", ["", "k" * 32, "Xq7_vR2mT9pL4sW8nB1cZ6yH3gJ0fD5a-extra"])
def test_production_accepts_an_ops_token_of_32_characters_or_none(token):
    # Unset, the health endpoint refuses every caller (README); set, it must be at least 32 characters.
    result = manage_check(**SAFE_PRODUCTION, OPS_TOKEN=token)
    assert result.returncode == 0, result.stderr


def test_production_lists_every_problem_at_once():
    result = manage_check(DJANGO_ENV="production", DJANGO_DEBUG="1", DATABASE_URL="sqlite:///:memory:")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    for message in ("DJANGO_DEBUG is on", "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS is empty"):
        assert message in result.stderr


@pytest.mark.parametrize(
    ("env_vars", "message"),
    [
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG='maybe' is not a boolean"),
        ({"DJANGO_ENV": "staging"}, "DJANGO_ENV='staging' is not one of development, production, test"),
        ({"DATABASE_CONN_MAX_AGE": "soon"}, "DATABASE_CONN_MAX_AGE='soon' is not a whole number"),
        ({"WALLETOPS_KAMAL_RUN_DIRS": "web-1:/mnt/w1"}, "WALLETOPS_KAMAL_RUN_DIRS: 'web-1:/mnt/w1' must be NAME="),
        ({"WALLETOPS_KAMAL_RUN_DIRS": "a=/x,a=/y"}, "WALLETOPS_KAMAL_RUN_DIRS: 'a' is named twice"),
        ({"WALLETOPS_DEPLOY_HOLD_MAX_SECONDS": "10"}, "WALLETOPS_DEPLOY_HOLD_MAX_SECONDS"),
    ],
)
def test_a_bad_portal_setting_stops_start_up_naming_the_variable(env_vars, message):
    result = manage_check(DATABASE_URL="sqlite:///:memory:", **env_vars)
    assert result.returncode != 0
    assert message in result.stderr


def test_upstream_numbers_fall_back_to_their_defaults(monkeypatch):
    from opsportal.lib.env import upstream_int

    for raw in ("", "abc", "-5", "1.5"):
        monkeypatch.setenv("PLANNINGS_REFRESH_WORKER_BATCH_SIZE", raw)
        assert upstream_int("PLANNINGS_REFRESH_WORKER_BATCH_SIZE", 50) == 50
    monkeypatch.setenv("PLANNINGS_REFRESH_WORKER_BATCH_SIZE", "7")
    assert upstream_int("PLANNINGS_REFRESH_WORKER_BATCH_SIZE", 50) == 7
    monkeypatch.delenv("PLANNINGS_REFRESH_WORKER_BATCH_SIZE")
    assert upstream_int("PLANNINGS_REFRESH_WORKER_BATCH_SIZE", 50) == 50


@pytest.mark.parametrize(
    ("env_vars", "said"),
    [
        ({}, ["Mode: development", "DEBUG on", "DJANGO_DEBUG=false turns DEBUG off", "DJANGO_ENV=production"]),
        ({"DJANGO_DEBUG": "false"}, ["Mode: development", "DEBUG off", "Unset DJANGO_DEBUG"]),
        ({"DJANGO_ENV": "production"}, ["Mode: production", "DEBUG off", "Unset DJANGO_ENV for development"]),
    ],
)
def test_make_run_says_which_mode_it_starts_in_and_how_to_switch(monkeypatch, env_vars, said):
    from scripts.run_portal import mode_banner

    for name in ("DJANGO_ENV", "DJANGO_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env_vars.items():
        monkeypatch.setenv(name, value)
    banner = mode_banner()
    for words in said:
        assert words in banner
