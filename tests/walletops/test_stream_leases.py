"""The stream caps' leases (walletops/stream_leases.py), on SQLite and PostgreSQL: lapse, renewal, a page's
replacement, one key per person. Across processes: tests/walletops/test_two_web_instances.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from walletops import logs, stream_leases
from walletops.exceptions import LogStreamsFull
from walletops.models import LogStreamLease

pytestmark = pytest.mark.django_db


@pytest.fixture
def caps(settings):
    settings.WALLETOPS_LOG_STREAMS_PER_USER = 2
    settings.WALLETOPS_LOG_STREAMS_TOTAL = 3
    settings.WALLETOPS_LOG_STREAM_HEARTBEAT_SECONDS = 15
    return settings


def test_one_key_per_person_whichever_way_they_come():
    assert stream_leases.stream_key(user_pk=7) == stream_leases.stream_key(user_pk=7, token_pk=3) == "user:7"
    assert stream_leases.stream_key(user_pk=None, token_pk=3) == "token:3"


def test_the_caps_count_leases_and_a_lapsed_one_frees_its_slot(caps):
    first = stream_leases.lease_take(key="user:1")
    stream_leases.lease_take(key="user:1")
    with pytest.raises(LogStreamsFull, match="WALLETOPS_LOG_STREAMS_PER_USER"):
        stream_leases.lease_take(key="user:1")
    stream_leases.lease_take(key="user:2")
    with pytest.raises(LogStreamsFull, match="WALLETOPS_LOG_STREAMS_TOTAL"):
        stream_leases.lease_take(key="user:3")
    lease = LogStreamLease.objects.get(pk=first)
    assert lease.expires_at - lease.created_at == timedelta(seconds=3 * 15)  # three heartbeats
    # A process killed with its stream never renews it: once lapsed, the slot is someone else's.
    LogStreamLease.objects.filter(pk=first).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert stream_leases.leases_open() == 2
    stream_leases.lease_take(key="user:3")
    assert not stream_leases.lease_renew(first)  # the lapsed stream learns it at its next heartbeat


def test_a_pages_new_stream_takes_its_previous_ones_slot_only_for_the_same_person(caps):
    old = stream_leases.lease_take(key="user:1", page="tab")
    stream_leases.lease_take(key="user:1", page="other-tab")
    new = stream_leases.lease_take(key="user:1", page="tab")  # the cap is 2: the reload is not refused
    assert not stream_leases.lease_renew(old) and stream_leases.lease_renew(new)
    stream_leases.lease_take(key="user:2", page="tab")  # another person's "tab" replaces nothing of user 1's
    assert stream_leases.leases_open() == 3 and stream_leases.lease_renew(new)


def test_a_stream_lease_gives_its_slot_back_once(caps):
    lease = logs.stream_lease(key="user:1")
    assert logs.streams_open() == 1 and lease.renew()
    lease.release()
    lease.release()  # a response closed twice
    assert logs.streams_open() == 0 and not lease.renew()
