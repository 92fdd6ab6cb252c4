"""The state machine of one (rule, target), pure: no database, no clock of its own.

Each pass hands ``track_step`` the episode so far, whether the condition holds now, and the time;
it answers the new episode and the notifications due. Noise control lives here, in one place:

- grace: the condition must hold for ``grace_evaluations`` consecutive passes *and* ``grace_seconds``
  before firing, and be gone as long before resolving;
- flapping: ``flap_transitions`` changes of the condition within ``flap_window_seconds`` mark the
  episode flapping; a flapping pending episode fires once (one message, not one per flap), and a
  flapping alerting one does not resolve until the condition has stayed gone for the grace;
- reminders: at most every ``reminder_seconds`` while alerting;
- hold: a deploy in progress or a maintenance window keeps a pending episode from firing; it fires only
  if it outlives them;
- acknowledgement: an acknowledged alerting episode gets no reminders (an operator is on it);
- gone: a target no longer observed (removed, no longer configured) counts as "not bad" for the
  grace, but an alerting episode it closes ends ``gone``, not ``resolved``: nothing recovered.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

PENDING, ALERTING, OK, RESOLVED, GONE = "pending", "alerting", "ok", "resolved", "gone"
FIRED, REMINDER, RESOLVED_EVENT, GONE_EVENT = "fired", "reminder", "resolved", "gone"


@dataclass(frozen=True)
class Policy:
    grace_evaluations: int = 3
    grace_seconds: int = 120
    reminder_seconds: int = 4 * 3600
    flap_transitions: int = 4
    flap_window_seconds: int = 3600


@dataclass(frozen=True)
class Track:
    """One episode. ``streak`` counts consecutive passes with the condition as ``last_bad`` says,
    since ``streak_since``."""

    state: str = OK
    last_bad: bool | None = None
    streak: int = 0
    streak_since: datetime | None = None
    transitions: tuple[datetime, ...] = field(default_factory=tuple)
    flapping: bool = False
    held: bool = False
    fired_at: datetime | None = None
    last_notified_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.state in (PENDING, ALERTING)

    def to_json(self) -> dict:
        def iso(value):
            return value.isoformat() if value else None

        return {
            "last_bad": self.last_bad,
            "streak": self.streak,
            "streak_since": iso(self.streak_since),
            "transitions": [iso(t) for t in self.transitions],
            "fired_at": iso(self.fired_at),
            "last_notified_at": iso(self.last_notified_at),
        }

    @classmethod
    def from_json(cls, data: dict, *, state: str, flapping: bool, held: bool) -> Track:
        def when(value):
            return datetime.fromisoformat(value) if value else None

        return cls(
            state=state,
            last_bad=data.get("last_bad"),
            streak=data.get("streak", 0),
            streak_since=when(data.get("streak_since")),
            transitions=tuple(when(t) for t in data.get("transitions", [])),
            flapping=flapping,
            held=held,
            fired_at=when(data.get("fired_at")),
            last_notified_at=when(data.get("last_notified_at")),
        )


def _held_long_enough(track: Track, policy: Policy, now: datetime) -> bool:
    return track.streak >= policy.grace_evaluations and now - track.streak_since >= timedelta(
        seconds=policy.grace_seconds
    )


def track_step(
    track: Track,
    *,
    bad: bool,
    now: datetime,
    policy: Policy,
    hold: bool = False,
    acknowledged: bool = False,
    gone: bool = False,
) -> tuple[Track, list]:
    """The episode after one pass, and the notifications due (``fired``, ``reminder``, ``resolved``,
    ``gone``). ``gone``: the target was not observed this pass (``bad`` is then False)."""
    if not track.open:
        if not bad:
            return track, []  # nothing open, nothing wrong: no row is made
        track = Track(state=PENDING)  # a new episode
    changed = track.last_bad is not None and bad != track.last_bad
    window = now - timedelta(seconds=policy.flap_window_seconds)
    transitions = tuple(t for t in (*track.transitions, *([now] if changed else [])) if t > window)
    same = track.last_bad == bad
    track = replace(
        track,
        last_bad=bad,
        streak=track.streak + 1 if same else 1,
        streak_since=track.streak_since if same else now,
        transitions=transitions,
        flapping=len(transitions) >= policy.flap_transitions,
        held=False,
    )
    events: list[str] = []
    if track.state == PENDING:
        if bad and (_held_long_enough(track, policy, now) or track.flapping):
            if hold:
                return replace(track, held=True), []  # a deploy is in progress: wait for it to end
            return replace(track, state=ALERTING, fired_at=now, last_notified_at=now), [FIRED]
        if not bad and _held_long_enough(track, policy, now):
            return replace(track, state=OK), []  # cleared before firing: closed quietly
        return track, events
    # alerting
    if not bad and _held_long_enough(track, policy, now):
        if gone:
            return replace(track, state=GONE), [GONE_EVENT]
        return replace(track, state=RESOLVED), [RESOLVED_EVENT]
    if acknowledged:
        return track, events  # an operator is on it: no reminder (one comes again if it is taken back)
    if bad and policy.reminder_seconds and now - track.last_notified_at >= timedelta(seconds=policy.reminder_seconds):
        return replace(track, last_notified_at=now), [REMINDER]
    return track, events
