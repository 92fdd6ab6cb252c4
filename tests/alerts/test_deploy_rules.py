"""The deploy lock rule (a Kamal lock held too long), and the deploy hold-back read from Kamal's real lock and
the hook's pre-deploy event until its post-deploy (bounded). The drift rule: tests/walletops/test_deploys_drift.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from opsportal.alerts import observe
from opsportal.alerts.models import Alert
from opsportal.alerts.services import alerts_evaluate
from tests.walletops.kamal_files import lock_acquire, lock_release
from walletops.deploys import services
from walletops.deploys.formats import hook_event_parse

pytestmark = pytest.mark.django_db
SERVICE = "wallet-core"


@pytest.fixture
def host(tmp_path, settings):
    (tmp_path / ".kamal").mkdir()
    settings.WALLETOPS_SERVICE = SERVICE
    settings.WALLETOPS_ENVS = ["staging", "production"]
    settings.WALLETOPS_KAMAL_RUN_DIRS = {"web-1": tmp_path / ".kamal"}
    settings.OPSPORTAL_ALERTS_DEPLOY_LOCK_PATH = ""
    settings.WALLETOPS_DEPLOY_INFO_PATH = tmp_path / "deploy_info.json"  # none
    return tmp_path


def test_a_lock_held_past_its_limit_fires_naming_holder_age_and_message(host, only_rules):
    only_rules("deploy_lock", grace_evaluations=1, grace_seconds=0)
    lock_acquire(host, SERVICE, timezone.now() - timedelta(hours=1), holder="CI", version="v7",
                 message="Automatic deploy lock", destination="production")  # fmt: skip
    assert alerts_evaluate().fired == 0  # an hour: a long deploy, not yet a stuck lock
    lock_release(host, SERVICE, destination="production")
    lock_acquire(host, SERVICE, timezone.now() - timedelta(days=28), holder="CI", version="v7",
                 message="Automatic deploy lock", destination="production")  # fmt: skip
    assert alerts_evaluate().fired == 1
    alert = Alert.objects.get(is_open=True)
    assert alert.target == "lock production"
    assert "held by CI on web-1 for 672.0 h (version v7: Automatic deploy lock) > 4.0 h" in alert.message
    lock_release(host, SERVICE, destination="production")
    assert alerts_evaluate().resolved == 1


def _hook(hook, moment, version="v8"):
    services.hook_event_store(hook_event_parse(hook, {
        "KAMAL_RECORDED_AT": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "KAMAL_SERVICE": SERVICE,
        "KAMAL_DESTINATION": "production", "KAMAL_VERSION": version, "KAMAL_PERFORMER": "ana",
    }))  # fmt: skip


def test_the_hold_back_follows_the_lock_and_the_hooks_events_bounded(host, settings):
    settings.WALLETOPS_DEPLOY_HOLD_MAX_SECONDS = 3600
    now = timezone.now().replace(microsecond=0)
    assert not observe.deploy_observe(now=now, memory={}).in_progress
    lock_acquire(host, SERVICE, now, holder="Ana", version="v8", message="Automatic deploy lock",
                 destination="production")  # fmt: skip
    held = observe.deploy_observe(now=now, memory={})
    assert held.in_progress and "the deploy lock is held on web-1 by Ana" in held.why
    # Kamal releases its lock before post-deploy runs: the pre-deploy event keeps the hold until then.
    _hook("pre-deploy", now)
    lock_release(host, SERVICE, destination="production")
    between = observe.deploy_observe(now=now + timedelta(seconds=5), memory={})
    assert between.in_progress and "pre-deploy, no post-deploy yet" in between.why
    _hook("post-deploy", now + timedelta(seconds=30))
    assert not observe.deploy_observe(now=now + timedelta(seconds=31), memory={}).in_progress
    # A deploy that died after pre-deploy never sends post-deploy: the hold ends after the bound.
    _hook("pre-deploy", now + timedelta(minutes=10), version="v9")
    assert observe.deploy_observe(now=now + timedelta(minutes=11), memory={}).in_progress
    assert not observe.deploy_observe(now=now + timedelta(minutes=71), memory={}).in_progress
