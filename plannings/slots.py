"""Per-host fetch slots shared by every drain on every machine (the politeness limit).

``PLANNINGS_REFRESH_WORKER_PER_HOST_CONCURRENCY`` used to be counted in each drain's memory, so
ten worker machines sent a school's server ten times the limit. Now a fetch starts only with one
of the host's ``limit`` slot rows (``plannings_host_slot``), won with a guarded
``INSERT … ON CONFLICT DO UPDATE … WHERE leased_until < now``: two drains can never hold the same
(host, slot), so at most ``limit`` fetches per host run at once across the fleet.

Why the database and not advisory locks or Redis: the queue's claim already lives there (no new
point of failure, and it works on ``make run``'s SQLite too); an advisory lock dies with its
connection, which is a lease of unknown length (a half-open TCP connection from a machine that
vanished keeps it until the server's keepalive gives up, two hours by default) and is lost
silently when a connection is re-established; the broker may be a folder or RabbitMQ. A lease
here is a timestamp: a drain renews its slots every third of ``PLANNINGS_REFRESH_WORKER_HOST_SLOT_LEASE_MS``,
and the slots of a drain killed with SIGKILL are free again at most one lease after its last renewal.

A drain keeps a slot while it has more items for the host (the next fetch reuses it without a
statement) and gives it back as soon as it has none, so the other drains get it.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import datetime, timedelta

from django.db import DatabaseError, connection
from django.utils import timezone

from plannings.models import HostSlot

logger = logging.getLogger(__name__)
TABLE = HostSlot._meta.db_table
HOST_CHARS = HostSlot._meta.get_field("host").max_length
HOLDER_CHARS = HostSlot._meta.get_field("holder").max_length


def _dt(value: datetime):
    # SQLite keeps datetimes as text: raw SQL must pass them in Django's stored form.
    return connection.ops.adapt_datetimefield_value(value)


def _take_sql(limit: int) -> str:
    # The lowest slot that no live lease holds, won only if it is still expired when written: a
    # drain that loses the race to another gets nothing this time and asks again later.
    numbers = " UNION ALL ".join(f"SELECT {n} AS n" for n in range(limit))
    return f"""
INSERT INTO {TABLE} (host, slot, holder, leased_until)
SELECT %(host)s, s.n, %(holder)s, %(until)s FROM ({numbers}) AS s
WHERE NOT EXISTS (
    SELECT 1 FROM {TABLE} AS live
    WHERE live.host = %(host)s AND live.slot = s.n AND live.leased_until >= %(now)s
)
ORDER BY s.n LIMIT 1
ON CONFLICT (host, slot) DO UPDATE SET holder = excluded.holder, leased_until = excluded.leased_until
WHERE {TABLE}.leased_until < %(now)s
RETURNING slot
"""


def host_slot_take(*, host: str, holder: str, limit: int, now: datetime, lease: timedelta) -> int | None:
    """Win one of ``host``'s ``limit`` slots for ``holder`` until ``now + lease``; None when all are held."""
    params = {"host": host[:HOST_CHARS], "holder": holder, "until": _dt(now + lease), "now": _dt(now)}
    with connection.cursor() as cursor:
        cursor.execute(_take_sql(limit), params)
        row = cursor.fetchone()
    return row[0] if row else None


_GIVE_BACK_SQL = f"DELETE FROM {TABLE} WHERE host = %s AND slot = %s AND holder = %s"


def host_slot_give_back(*, host: str, slot: int, holder: str) -> None:
    # Raw SQL: the ORM's delete() (a collector for a table nothing references) cost the drain more
    # CPU than the statement itself, once per fetch when a batch's hosts alternate.
    with connection.cursor() as cursor:
        cursor.execute(_GIVE_BACK_SQL, [host[:HOST_CHARS], slot, holder])


def host_slots_renew(*, holder: str, now: datetime, lease: timedelta) -> int:
    """Extend every lease ``holder`` still has; returns how many (fewer than held: some expired and were lost)."""
    # An expired lease still in this holder's name is renewed too: a drain taking it over changes
    # the holder in the same row, so whichever statement comes second sees the other's write.
    return HostSlot.objects.filter(holder=holder).update(leased_until=now + lease)


def host_slots_held(*, holder: str) -> list[tuple[str, int]]:
    return list(HostSlot.objects.filter(holder=holder).values_list("host", "slot"))


def host_slots_give_back_all(*, holder: str) -> int:
    return HostSlot.objects.filter(holder=holder).delete()[0]


def host_slots_sweep(*, now: datetime) -> int:
    """Delete expired leases (a killed drain's, for a host nobody fetched since): the table stays small."""
    return HostSlot.objects.filter(leased_until__lt=now).delete()[0]


RETRY_FIRST = 0.01
RETRY_MAX = 0.08


class DrainSlots:
    """The slots one drain holds, and how many of each host's are fetching right now.

    Runs on the drain's calling thread only (the pool threads never touch the database).
    """

    def __init__(self, *, holder: str, limit: int, lease: timedelta):
        self.holder = holder[:HOLDER_CHARS]
        self.limit = limit
        self.lease = lease
        self.held: dict[str, list[int]] = {}
        self.busy: Counter = Counter()
        self._renewed = time.monotonic()
        # A host found full is asked again after 10 ms, then 20, 40, up to 80 ms while it stays full:
        # several waiting drains still notice a freed slot within a few ms, at a fraction of the statements.
        self._retry_at: dict[str, float] = {}
        self._backoff: dict[str, float] = {}

    @property
    def renew_every(self) -> float:
        return self.lease.total_seconds() / 3

    def start(self, host: str) -> bool:
        """Reserve a slot of ``host`` for one fetch: an idle one this drain holds, else a new one."""
        held = self.held.setdefault(host, [])
        if self.busy[host] < len(held):
            self.busy[host] += 1
            return True
        if len(held) >= self.limit or time.monotonic() < self._retry_at.get(host, 0.0):
            return False
        slot = host_slot_take(host=host, holder=self.holder, limit=self.limit, now=timezone.now(), lease=self.lease)
        if slot is None:
            self._backoff[host] = min(self._backoff.get(host, RETRY_FIRST / 2) * 2, RETRY_MAX)
            self._retry_at[host] = time.monotonic() + self._backoff[host]
            return False
        self._backoff.pop(host, None)
        self._retry_at.pop(host, None)
        held.append(slot)
        self.busy[host] += 1
        return True

    def finish(self, host: str) -> None:
        """A fetch of ``host`` ended: its slot stays held (idle) until ``give_back_idle``."""
        self.busy[host] -= 1

    def give_back_idle(self, waiting: Counter | None = None) -> None:
        """Give back every slot held beyond the fetches running and the items still ``waiting``
        in this drain for its host (call after starting what can start).

        A slot kept for a waiting item is used by this drain's next free thread without a statement;
        given back at once, it cost a give-back and a take per fetch whenever a batch's hosts
        alternate (every batch of a real catalog).
        """
        waiting = waiting or Counter()
        for host, held in self.held.items():
            while len(held) > max(self.busy[host], 0) + waiting[host]:
                host_slot_give_back(host=host, slot=held.pop(), holder=self.holder)

    def renew_if_due(self) -> None:
        if time.monotonic() - self._renewed < self.renew_every:
            return
        self._renewed = time.monotonic()
        expected = sum(len(held) for held in self.held.values())
        if not expected:
            return
        if host_slots_renew(holder=self.holder, now=timezone.now(), lease=self.lease) < expected:
            # This drain stalled past its lease (a database outage): what it lost may be someone
            # else's now. Hold only what the table says; fetches in flight finish as they are.
            logger.warning("drain %s lost slot leases it did not renew in time", self.holder)
            self.held = {}
            for host, slot in host_slots_held(holder=self.holder):
                self.held.setdefault(host, []).append(slot)

    def seconds_to_renewal(self) -> float:
        return max(0.0, self.renew_every - (time.monotonic() - self._renewed))

    def close(self) -> None:
        try:
            host_slots_give_back_all(holder=self.holder)
        except DatabaseError:  # the database went away mid-drain: that error is the one to raise
            logger.warning("drain %s could not give its slots back; their leases end by themselves", self.holder)
        self.held.clear()
