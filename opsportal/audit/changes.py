"""Changes on the record: a small registry of models whose saves, deletes and memberships are audited with a
before/after of the fields that changed, from Django's model signals.

One mechanism for every way a change comes (the admin's forms, the services, a command's shell): a model
registered here (``audit_track``) gets a row per create, change and delete, ``{"field": [before, after]}``,
with the secrets masked by the function registered for their field; the memberships registered with
``audit_track_m2m`` (a user's groups and permissions, a group's permissions) get a row per change of the
set. Signals see every ``save()`` and ``delete()``, so no path that forgets to call the audit is left; a
guarded ``update()`` sends none, and the service that makes one passes its changes to its own row.

A service that records the action itself (a mute, a maintenance window) collects the changes its writes
make into its own row (``changes_collected``) instead of a second row. Who acts comes from ``context.py``;
outside a request or a command nothing is recorded (a test's fixtures, data migrations).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from opsportal.audit.context import acting_now

MASKED = "(masked)"


@dataclass(frozen=True)
class Tracked:
    action: str  # the rows' action prefix: "alerts.rule" gives alerts.rule.create, .change, .delete
    target_type: str
    fields: tuple[str, ...]
    masks: dict[str, Callable[[object], object]]
    name: Callable[[object], str]


@dataclass
class Collected:
    """The changes made inside ``changes_collected``: field → [before, after], the first before and last after."""

    changes: dict = field(default_factory=dict)

    def add(self, diff: dict) -> None:
        for name, (before, after) in diff.items():
            first = self.changes[name][0] if name in self.changes else before
            self.changes[name] = [first, after]


_registry: dict[type, Tracked] = {}
_collecting: ContextVar[Collected | None] = ContextVar("audit_collecting", default=None)


def masked_always(value) -> str:
    """A secret's before/after: whether it was set, never the value (a password's hash, a token's)."""
    return MASKED if value else ""


def audit_track(
    model,
    *,
    action: str,
    target_type: str,
    fields: tuple[str, ...],
    masks: dict[str, Callable[[object], object]] | None = None,
    name: Callable[[object], str] = str,
) -> None:
    """Record every create, change and delete of ``model`` with the ``fields`` that changed."""
    _registry[model] = Tracked(action, target_type, fields, masks or {}, name)
    uid = f"audit:{model._meta.label}"
    pre_save.connect(_before_save, sender=model, dispatch_uid=uid)
    post_save.connect(_saved, sender=model, dispatch_uid=uid)
    post_delete.connect(_deleted, sender=model, dispatch_uid=uid)


def audit_track_m2m(through, *, action: str, target_type: str, field_name: str, label: Callable[[object], str]):
    """Record every change of a many-to-many set (``through``: the relation's table) as the set before and after,
    under ``action`` exactly. ``label`` names a related object (a group's name, a permission's ``app.codename``)."""

    def changed(sender, instance, action: str, reverse: bool, model, pk_set, **kwargs):
        _membership_changed(instance, action, reverse, model, pk_set, spec=spec)

    spec = (action, target_type, field_name, label)
    m2m_changed.connect(changed, sender=through, weak=False, dispatch_uid=f"audit:{through._meta.label}")


@contextmanager
def changes_collected() -> Iterator[Collected]:
    """Collect the tracked changes made inside, for the caller's own audit row, instead of a row each."""
    collected = Collected()
    reset = _collecting.set(collected)
    try:
        yield collected
    finally:
        _collecting.reset(reset)


def _values(instance, tracked: Tracked) -> dict:
    return {name: getattr(instance, name) for name in tracked.fields}


def _shown(tracked: Tracked, name: str, value):
    if value is None:
        return None
    mask = tracked.masks.get(name)
    if mask is not None:
        return mask(value)
    if hasattr(value, "pk"):  # a foreign key's object: its name
        return str(value)
    return value


def _diff(tracked: Tracked, before: dict, after: dict) -> dict:
    changed = {}
    for name in tracked.fields:
        old, new = before.get(name), after.get(name)
        if old != new:
            changed[name] = [_shown(tracked, name, old), _shown(tracked, name, new)]
            if changed[name][0] == changed[name][1]:  # a secret changed for another: say so, not what
                changed[name] = [MASKED, f"{MASKED}, changed"]
    return changed


def _active() -> bool:
    return _collecting.get() is not None or acting_now() is not None


def _before_save(sender, instance, raw=False, update_fields=None, **kwargs):
    tracked = _registry.get(sender)
    if tracked is None or raw or not _active():
        return
    if update_fields is not None and not set(update_fields) & set(tracked.fields):
        instance._audit_before = None  # e.g. a login's last_login: nothing tracked changes
        return
    if instance.pk is None or instance._state.adding:
        instance._audit_before = {}
        return
    old = sender._default_manager.filter(pk=instance.pk).first()
    instance._audit_before = _values(old, tracked) if old is not None else {}


def _record(*, tracked: Tracked, verb: str, instance, diff: dict) -> None:
    collected = _collecting.get()
    if collected is not None:
        collected.add(diff)
        return
    actor = acting_now()
    if actor is None:
        return
    from opsportal.audit.services import audit_record  # services import the models: not at app loading

    audit_record(
        actor=actor,
        action=f"{tracked.action}.{verb}" if verb else tracked.action,
        target_type=tracked.target_type,
        targets=[tracked.name(instance)],
        changed=1,
        changes=diff,
    )


def _saved(sender, instance, created: bool, raw=False, **kwargs):
    tracked = _registry.get(sender)
    before = getattr(instance, "_audit_before", None)
    if tracked is None or raw or before is None:
        return
    instance._audit_before = None
    diff = _diff(tracked, {} if created else before, _values(instance, tracked))
    if created:
        diff = {name: change for name, change in diff.items() if change[1] not in (None, "", [], {})}
    if diff or created:
        _record(tracked=tracked, verb="create" if created else "change", instance=instance, diff=diff)


def _deleted(sender, instance, **kwargs):
    tracked = _registry.get(sender)
    if tracked is None or not _active():
        return
    before = _values(instance, tracked)
    diff = {name: [_shown(tracked, name, value), None] for name, value in before.items() if value not in (None, "")}
    _record(tracked=tracked, verb="delete", instance=instance, diff=diff)


def _membership_changed(instance, action: str, reverse: bool, model, pk_set, *, spec) -> None:
    action_name, target_type, field_name, label = spec
    if not _active():
        return
    if action == "pre_clear":
        instance._audit_cleared = _members(instance, reverse, model, field_name, label)
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if reverse:
        # group.user_set.add(user): recorded on each user, as if ``user.groups.add(group)``.
        for member in model._default_manager.filter(pk__in=pk_set or ()):
            _membership_row(member, action, {instance.pk}, type(instance), field_name, label,
                            action_name=action_name, target_type=target_type)  # fmt: skip
        return
    _membership_row(instance, action, pk_set, model, field_name, label, action_name=action_name,
                    target_type=target_type)  # fmt: skip


def _members(instance, reverse, model, field_name, label) -> list[str]:
    if reverse:
        return []  # a cleared reverse set: its members are recorded one by one by their own side
    return sorted(label(obj) for obj in getattr(instance, field_name).all())


def _membership_row(instance, action, pk_set, model, field_name, label, *, action_name, target_type) -> None:
    after = sorted(label(obj) for obj in getattr(instance, field_name).all())
    if action == "post_clear":
        before = getattr(instance, "_audit_cleared", [])
    else:
        moved = sorted(label(obj) for obj in model._default_manager.filter(pk__in=pk_set or ()))
        before = sorted(set(after) - set(moved)) if action == "post_add" else sorted(set(after) | set(moved))
    if before == after:
        return
    tracked = Tracked(action_name, target_type, (field_name,), {}, str)
    _record(tracked=tracked, verb="", instance=instance, diff={field_name: [before, after]})
