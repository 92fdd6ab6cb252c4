"""Each planning's refresh attempts: recorded by the worker for every outcome, in groups, pruned by age and count."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from plannings import jobs, services, tasks
from plannings.jobs import DrainLimits
from plannings.models import RefreshAttempt
from scripts.servers.postgres import free_port
from tests import factories

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
OWNER = "host-a:123:abcd"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _limits(**overrides) -> DrainLimits:
    values = {"batch_size": 50, "concurrency": 2, "per_host": 2, "budget": timedelta(seconds=60), "max_attempts": 10}
    return DrainLimits(**{**values, **overrides})


def _queued(url: str, full_id: str):
    planning = factories.planning_make(full_id, url=url)
    factories.queue_item_make(planning, next_attempt_at=NOW - timedelta(seconds=1))
    return planning


def _attempt(full_id: str) -> RefreshAttempt:
    return RefreshAttempt.objects.get(planning_id=full_id)


def test_every_outcome_of_a_drain_is_recorded_with_what_it_measured(feed_host):
    _queued(f"{feed_host.url}/ok/a.ics?events=12", "s.ok")
    _queued(f"{feed_host.url}/status/404/b", "s.gone")
    _queued(f"{feed_host.url}/status/503/c", "s.down")
    _queued(f"{feed_host.url}/garbage/d", "s.garbage")
    _queued(f"{feed_host.url}/html/e", "s.html")
    _queued(f"http://127.0.0.1:{free_port()}/f.ics", "s.refused")

    jobs.refresh_drain(owner=OWNER, limits=_limits())

    ok = _attempt("s.ok")
    assert (ok.outcome, ok.http_status, ok.events, ok.disabled, ok.worker) == ("success", 200, 12, False, OWNER)
    assert ok.bytes > 1000 and ok.duration_ms >= 0 and ok.started_at == ok.finished_at == NOW
    assert ok.body_head == ok.error == ""
    gone = _attempt("s.gone")
    assert (gone.outcome, gone.http_status, gone.disabled, gone.bytes) == ("http_4xx", 404, True, None)
    assert gone.error == "http_4xx: HTTP 404"
    down = _attempt("s.down")
    assert (down.outcome, down.http_status, down.disabled) == ("http_5xx", 503, False)
    garbage = _attempt("s.garbage")
    assert (garbage.outcome, garbage.http_status, garbage.bytes) == (
        "parse_error",
        200,
        len(b"this is not a calendar\x00\x01 at all"),
    )
    # The body's first characters as safe text: no NUL (PostgreSQL refuses it) nor control characters.
    assert garbage.body_head == "this is not a calendar\ufffd\ufffd at all"
    html = _attempt("s.html")
    assert html.outcome == "invalid_body"
    assert html.body_head.startswith("<!DOCTYPE html><html><body><h1>500 Internal Server Error")
    refused = _attempt("s.refused")
    assert (refused.outcome, refused.http_status, refused.bytes) == ("connection_refused", None, None)


def test_a_parse_error_quoting_a_nul_is_recorded_and_the_group_still_lands(feed_host):
    # icalendar's message quotes the refused value, NUL included; PostgreSQL refuses NUL in text, and the
    # attempts ride in the successes' transaction: unclean, it rolled the good feeds' backups back.
    _queued(f"{feed_host.url}/ok/a.ics?events=3", "s.good1")
    _queued(f"{feed_host.url}/bad-date/b.ics", "s.bad")
    _queued(f"{feed_host.url}/ok/c.ics?events=4", "s.good2")

    result = jobs.refresh_drain(owner=OWNER, limits=_limits())

    assert result.succeeded == 2
    bad = _attempt("s.bad")
    assert bad.outcome == "parse_error" and "\x00" not in bad.error and "bad" in bad.error
    assert {_attempt(full_id).outcome for full_id in ("s.good1", "s.good2")} == {"success"}


def test_an_unchanged_feed_is_recorded_as_not_modified(feed_host, frozen_now):
    planning = _queued(f"{feed_host.url}/ok/same.ics?events=5", "s.same")
    jobs.refresh_drain(owner=OWNER, limits=_limits())
    frozen_now.shift(timedelta(hours=1))
    factories.queue_item_make(planning)
    jobs.refresh_drain(owner=OWNER, limits=_limits())
    outcomes = list(RefreshAttempt.objects.order_by("started_at").values_list("outcome", flat=True))
    assert outcomes == ["success", "not_modified"]


def test_a_group_of_successes_costs_one_insert_and_a_failure_one_with_its_state(feed_host):
    for i in range(12):
        _queued(f"{feed_host.url}/ok/p{i}.ics?events=3", f"s.ok{i}")
    for i in range(4):
        _queued(f"{feed_host.url}/status/500/f{i}", f"s.fail{i}")

    with CaptureQueriesContext(connection) as queries:
        jobs.refresh_drain(owner=OWNER, limits=_limits())

    table = RefreshAttempt._meta.db_table
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith(f'INSERT INTO "{table}"')]
    assert len(inserts) == 1 + 4  # the 12 successes' group, and each failure in its own state's transaction
    assert RefreshAttempt.objects.count() == 16


def test_a_failure_s_attempt_is_written_with_its_state_not_after_the_batch(feed_host, monkeypatch):
    """The planning's page read between a failure and the end of its batch showed "last attempt just now"
    and a failure count beside an attempts table without the row."""
    _queued(f"{feed_host.url}/status/500/first", "s.fail")
    for i in range(3):
        _queued(f"{feed_host.url}/ok/p{i}.ics?events=3", f"s.ok{i}")
    seen = []
    failed = services.refresh_item_failed

    def then_read_the_page(**kwargs):
        outcome = failed(**kwargs)
        full_id = kwargs["item"].planning_full_id
        state = services.PlanningRefreshState.objects.get(pk=full_id)
        seen.append((state.consecutive_failures, RefreshAttempt.objects.filter(planning_id=full_id).count()))
        return outcome

    monkeypatch.setattr(jobs.services, "refresh_item_failed", then_read_the_page)
    jobs.refresh_drain(owner=OWNER, limits=_limits(concurrency=1))
    assert seen == [(1, 1)]


def test_a_drain_told_not_to_record_attempts_records_none(feed_host):
    _queued(f"{feed_host.url}/ok/a.ics?events=2", "s.ok")
    _queued(f"{feed_host.url}/status/500/b", "s.fail")
    result = jobs.refresh_drain(owner=OWNER, limits=_limits(), record_attempts=False)
    assert result.claimed == 2
    assert not RefreshAttempt.objects.exists()


# --- Retention ----------------------------------------------------------------------------


def _attempts(full_id: str, *started: datetime) -> None:
    factories.planning_make(full_id)
    RefreshAttempt.objects.bulk_create(
        RefreshAttempt(planning_id=full_id, started_at=when, finished_at=when, outcome="success") for when in started
    )


def _kept(full_id: str) -> list[datetime]:
    return list(
        RefreshAttempt.objects.filter(planning_id=full_id).order_by("-started_at").values_list("started_at", flat=True)
    )


def test_attempts_are_kept_for_the_retention_and_pruned_just_after(frozen_now):
    retention = timedelta(days=settings.PLANNINGS_ATTEMPTS_RETENTION_DAYS)
    assert retention == timedelta(days=14)
    _attempts("s.a", NOW - timedelta(days=20), NOW - timedelta(days=2))
    frozen_now.move_to(NOW + timedelta(days=12))  # the newer one is now exactly 14 days old, to the microsecond
    tasks.attempts_prune()
    assert _kept("s.a") == [NOW - timedelta(days=2)]

    frozen_now.shift(timedelta(microseconds=1))
    assert tasks.attempts_prune() == {"pruned": 1}
    assert _kept("s.a") == []


def test_the_retention_follows_its_setting(settings, frozen_now):
    settings.PLANNINGS_ATTEMPTS_RETENTION_DAYS = 3
    _attempts("s.a", NOW - timedelta(days=3), NOW - timedelta(days=3, seconds=1))
    tasks.attempts_prune()
    assert _kept("s.a") == [NOW - timedelta(days=3)]


def test_a_planning_keeps_at_most_its_newest_50_attempts():
    _attempts("s.busy", *(NOW - timedelta(minutes=m) for m in range(55)))
    _attempts("s.quiet", *(NOW - timedelta(minutes=m) for m in range(10)))
    assert tasks.attempts_prune() == {"pruned": 5}
    assert _kept("s.busy") == [NOW - timedelta(minutes=m) for m in range(50)]
    assert len(_kept("s.quiet")) == 10


def test_pruning_runs_in_bounded_batches_and_the_next_run_takes_the_rest():
    _attempts("s.a", *(NOW - timedelta(days=30, minutes=m) for m in range(25)))
    retention = timedelta(days=14)
    assert services.refresh_attempts_prune(now=NOW, retention=retention, batch_size=10, max_batches=2) == 20
    assert services.refresh_attempts_prune(now=NOW, retention=retention, batch_size=10, max_batches=2) == 5
    assert not RefreshAttempt.objects.exists()


def test_beat_prunes_the_attempts_hourly():
    entry = settings.CELERY_BEAT_SCHEDULE["plannings-attempts-prune"]
    assert (entry["task"], entry["schedule"]) == (tasks.attempts_prune.name, 3600.0)


def test_an_unexpected_error_is_recorded_as_such_with_its_message(feed_host, monkeypatch):
    def broken(events):
        raise RuntimeError("bug in the normaliser")

    monkeypatch.setattr(jobs, "backup_prepare", broken)
    _queued(f"{feed_host.url}/ok/a.ics?events=2", "s.bug")
    jobs.refresh_drain(owner=OWNER, limits=_limits())
    attempt = _attempt("s.bug")
    assert (attempt.outcome, attempt.http_status, attempt.error) == (
        "unexpected", 200, "RuntimeError: bug in the normaliser",
    )  # fmt: skip


@pytest.mark.postgres_only  # the mirrored tables' foreign keys exist on PostgreSQL only (migration 0002)
def test_a_planning_deleted_while_its_feed_was_fetched_records_no_attempt(feed_host, monkeypatch):
    planning = _queued(f"{feed_host.url}/status/500/a", "s.gone")
    claim = jobs.services.refresh_queue_claim

    def claim_then_delete(**kwargs):
        items = claim(**kwargs)
        type(planning).objects.filter(pk=planning.pk).delete()  # a catalog import, between claim and outcome
        return items

    monkeypatch.setattr(jobs.services, "refresh_queue_claim", claim_then_delete)
    result = jobs.refresh_drain(owner=OWNER, limits=_limits())
    assert result.outcomes == {"http_5xx:forgotten": 1}
    assert not RefreshAttempt.objects.exists()
