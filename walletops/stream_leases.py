"""The live log streams' caps, counted in the database so they hold across every web process.

``WALLETOPS_LOG_STREAMS_PER_USER`` and ``WALLETOPS_LOG_STREAMS_TOTAL`` count one row per open
stream (``LogStreamLease``), whichever gunicorn worker of whichever machine serves it. The
database rather than Redis: it is the one store every deployment has (``make run`` on SQLite,
production on PostgreSQL; Redis is production's broker only), the portal already admits restarts
and logins there, and streams open at a person's pace: a few rows a minute, one renewal per stream
per heartbeat.

A slot is taken in one transaction that first serialises every taker (PostgreSQL: a transaction-
level advisory lock; SQLite: the transaction itself, opened ``IMMEDIATE``, holds the write lock),
drops the lapsed leases, counts, and inserts: two processes cannot both take the last slot.
A lease lasts ``LEASE_BEATS`` heartbeats and its stream renews it at each heartbeat, so the
streams of a worker killed with SIGKILL (which never closes them) free their slots within that
bound; a stream closed the ordinary way deletes its row at once.

A portal page (a browser tab) names itself with ``page``: its new stream takes its previous
stream's slot, so a reload never counts against its own closed tab; the stream replaced learns it
at its next renewal and ends.
"""

from __future__ import annotations

import zlib
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from walletops.exceptions import LogStreamsFull
from walletops.models import LogStreamLease

LEASE_BEATS = 3  # a lease outlives this many missed heartbeats (45 s with the default 15 s)
_LOCK_ID = zlib.crc32(b"walletops.log_stream_leases")  # the advisory lock's number: this module's own


def stream_key(*, user_pk: int | None = None, token_pk: int | None = None) -> str:
    """Whose cap a stream counts against: one person's, whether through the portal or a token they own;
    a token without an owner on its own."""
    return f"user:{user_pk}" if user_pk is not None else f"token:{token_pk}"


def lease_seconds() -> int:
    return LEASE_BEATS * settings.WALLETOPS_LOG_STREAM_HEARTBEAT_SECONDS


def _serialised() -> None:
    """Until the transaction ends, no other process takes a slot (SQLite: the IMMEDIATE transaction is enough)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_ID])


def lease_take(*, key: str, page: str = "") -> int:
    """A slot for one more live stream of ``key`` (the lease's id), or ``LogStreamsFull``.

    With ``page``, that page's previous stream (of the same ``key`` only) gives its slot to this one.
    """
    with transaction.atomic():
        _serialised()
        now = timezone.now()
        LogStreamLease.objects.filter(expires_at__lte=now).delete()
        if page:
            LogStreamLease.objects.filter(key=key, page=page).delete()
        if LogStreamLease.objects.count() >= settings.WALLETOPS_LOG_STREAMS_TOTAL:
            raise LogStreamsFull(
                f"{settings.WALLETOPS_LOG_STREAMS_TOTAL} live log streams are open on this portal "
                "(WALLETOPS_LOG_STREAMS_TOTAL, every web process together): close one or retry later"
            )
        if LogStreamLease.objects.filter(key=key).count() >= settings.WALLETOPS_LOG_STREAMS_PER_USER:
            raise LogStreamsFull(
                f"you have {settings.WALLETOPS_LOG_STREAMS_PER_USER} live log streams open "
                "(WALLETOPS_LOG_STREAMS_PER_USER): close one first"
            )
        lease = LogStreamLease.objects.create(
            key=key, page=page[:64], created_at=now, expires_at=now + timedelta(seconds=lease_seconds())
        )
    return lease.pk


def lease_renew(lease_id: int) -> bool:
    """Extend the lease by its length from now; False when it is gone (lapsed, or taken by its page's new stream)."""
    expires_at = timezone.now() + timedelta(seconds=lease_seconds())
    return LogStreamLease.objects.filter(pk=lease_id, expires_at__gt=timezone.now()).update(expires_at=expires_at) == 1


def lease_release(lease_id: int) -> None:
    LogStreamLease.objects.filter(pk=lease_id).delete()


def leases_open() -> int:
    """Streams open now, on every web process."""
    return LogStreamLease.objects.filter(expires_at__gt=timezone.now()).count()
