"""The state machine of one (rule, target), at each boundary: grace, resolve, flapping, reminders, hold.

Time is moved with time_machine; the evaluator itself reads no clock (it is handed ``now``)."""

from datetime import UTC, datetime, timedelta

import time_machine
from django.utils import timezone

from opsportal.alerts.evaluator import ALERTING, OK, PENDING, RESOLVED, Policy, Track, track_step

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = Policy(
    grace_evaluations=3, grace_seconds=120, reminder_seconds=3600, flap_transitions=4, flap_window_seconds=600
)


class Passes:
    """Runs one pass a minute (by default) on one track, moving the clock."""

    def __init__(self, traveller, policy=POLICY):
        self.traveller, self.policy, self.track, self.events = traveller, policy, Track(), []

    def run(self, bad: bool, *, after: timedelta = timedelta(minutes=1), hold: bool = False) -> list[str]:
        self.traveller.shift(after)
        self.track, events = track_step(self.track, bad=bad, now=timezone.now(), policy=self.policy, hold=hold)
        self.events.extend(events)
        return events


def _passes():
    traveller = time_machine.travel(START, tick=False)
    return traveller, Passes(traveller.start())


def test_it_fires_on_the_third_consecutive_bad_pass_and_not_before():
    traveller, p = _passes()
    try:
        assert p.run(True) == [] and p.track.state == PENDING
        assert p.run(True) == []
        assert p.run(True) == ["fired"]  # third pass, two minutes after the first: both graces met
        assert p.track.state == ALERTING and p.track.fired_at == timezone.now()
    finally:
        traveller.stop()


def test_it_waits_for_the_grace_seconds_too_when_passes_come_fast():
    traveller, p = _passes()
    try:
        p.run(True)
        p.run(True, after=timedelta(seconds=10))
        assert p.run(True, after=timedelta(seconds=10)) == []  # three passes but only 20 s
        assert p.run(True, after=timedelta(seconds=99)) == []  # 119 s since the first bad pass
        assert p.run(True, after=timedelta(seconds=1)) == ["fired"]  # 120 s
    finally:
        traveller.stop()


def test_one_good_pass_restarts_the_grace():
    traveller, p = _passes()
    try:
        p.run(True), p.run(True), p.run(False)
        assert p.run(True) == [] and p.run(True) == []
        assert p.track.state == PENDING
        assert p.run(True) == ["fired"]
    finally:
        traveller.stop()


def test_a_pending_episode_that_clears_for_the_grace_closes_quietly():
    traveller, p = _passes()
    try:
        p.run(True), p.run(False), p.run(False)
        assert p.track.state == PENDING
        assert p.run(False) == [] and p.track.state == OK and not p.track.open
        assert p.events == []
    finally:
        traveller.stop()


def test_it_resolves_after_the_grace_of_good_passes_with_one_recovery_message():
    traveller, p = _passes()
    try:
        for _ in range(3):
            p.run(True)
        assert p.run(False) == [] and p.run(False) == []
        assert p.track.state == ALERTING
        assert p.run(False) == ["resolved"] and p.track.state == RESOLVED
        assert p.events == ["fired", "resolved"]
    finally:
        traveller.stop()


def test_reminders_come_at_most_every_interval_while_alerting():
    traveller, p = _passes()
    try:
        for _ in range(3):
            p.run(True)  # fired at 09:03
        assert p.run(True, after=timedelta(minutes=59)) == []  # 10:02: 59 min after firing
        assert p.run(True, after=timedelta(minutes=1)) == ["reminder"]  # one hour
        assert p.run(True, after=timedelta(minutes=30)) == []
        assert p.run(True, after=timedelta(minutes=30)) == ["reminder"]
    finally:
        traveller.stop()


def test_no_reminder_when_the_interval_is_zero():
    traveller, p = _passes()
    p.policy = Policy(grace_evaluations=1, grace_seconds=0, reminder_seconds=0)
    try:
        assert p.run(True) == ["fired"]
        assert p.run(True, after=timedelta(days=2)) == []
    finally:
        traveller.stop()


def test_a_flapping_condition_fires_once_marked_flapping_and_does_not_resolve_while_it_flaps():
    traveller, p = _passes()
    try:
        p.run(True)
        for bad in (False, True, False):  # three changes: not yet flapping
            assert p.run(bad) == []
        assert not p.track.flapping
        assert p.run(True) == ["fired"]  # the fourth change within ten minutes
        assert p.track.flapping and p.track.state == ALERTING
        for bad in (False, True, False, True, False, True):
            assert p.run(bad) == []  # no message per flap
        assert p.track.state == ALERTING
    finally:
        traveller.stop()


def test_changes_older_than_the_window_do_not_count_as_flapping():
    traveller, p = _passes()
    try:
        p.run(True)
        p.run(False), p.run(True)  # two changes
        p.run(False, after=timedelta(minutes=9))  # the first change is now 10 min old: out of the window
        assert not p.track.flapping and len(p.track.transitions) == 2
    finally:
        traveller.stop()


def test_a_held_episode_fires_only_if_it_outlives_the_deploy():
    traveller, p = _passes()
    try:
        for _ in range(5):
            assert p.run(True, hold=True) == []
        assert p.track.state == PENDING and p.track.held
        assert p.run(True, hold=False) == ["fired"]  # the deploy is over and it is still bad
    finally:
        traveller.stop()


def test_a_held_episode_that_recovers_during_the_deploy_never_notifies():
    traveller, p = _passes()
    try:
        for bad in (True, True, True, False, False, False):
            p.run(bad, hold=True)
        assert p.track.state == OK and p.events == []
    finally:
        traveller.stop()


def test_the_track_survives_its_json_round_trip():
    traveller, p = _passes()
    try:
        p.run(True), p.run(False), p.run(True)
        again = Track.from_json(p.track.to_json(), state=p.track.state, flapping=p.track.flapping, held=False)
        assert again == p.track
    finally:
        traveller.stop()
