"""Admin for the mirrored tables: searchable, filterable, read-only except through the operator's actions.

The actions (refresh now, re-enable, release lock, retry now) need the
``plannings.operate_plannings`` permission: Django lists an action, and accepts
a posted one, only when ``has_operate_permission`` allows it. They write through
``plannings.operator_actions``, one transaction each, and report what they did and skipped.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import display_for_value
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import F, Q
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from opsportal.lib.admin import ReadOnlyAdmin
from plannings import operator_actions
from plannings.models import (
    LOCK_TTL_SECONDS,
    JobRuntime,
    Planning,
    PlanningBackup,
    PlanningRefreshQueue,
    PlanningRefreshState,
    q_backfill_eligible,
    q_backup_fresh,
    q_disabled,
    q_live_lock,
    q_queued,
    q_ready,
    q_stale_or_missing,
    queue_states,
)

OPERATE_PERMISSION = "plannings.operate_plannings"
# "Refresh now" is one throttled user request per planning: bounded so a
# select-all over the catalog cannot turn into a 100,000-request web request.
REFRESH_NOW_LIMIT = 500
# Live locks are few (a batch per worker); the confirmation page lists at most this many.
LOCKS_LISTED = 100


# --- Filters ------------------------------------------------------------------------


class HostFilter(admin.SimpleListFilter):
    """The school slug (first segment of the full id), as ops payloads call it "host".

    The catalog stores that slug as ``planning_id``, so the choices are its
    distinct values: one scan of the plannings table, about 13 ms at 100,000 rows
    on PostgreSQL (splitting every full id instead costs about 33 ms).
    """

    title = "host"
    parameter_name = "host"
    field_path = "planning__planning_id"

    def lookups(self, request, model_admin):
        slugs = Planning.objects.order_by("planning_id").values_list("planning_id", flat=True).distinct()
        return [(slug, slug) for slug in slugs]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(**{self.field_path: self.value()})
        return queryset


class PlanningHostFilter(HostFilter):
    field_path = "planning_id"


class YesNoFilter(admin.SimpleListFilter):
    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def condition(self) -> Q:
        raise NotImplementedError

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(self.condition())
        if self.value() == "no":
            return queryset.exclude(self.condition())
        return queryset


class HasBackupFilter(YesNoFilter):
    title = "has backup"
    parameter_name = "has_backup"

    def condition(self) -> Q:
        return Q(backup__isnull=False)


class PlanningDisabledFilter(YesNoFilter):
    title = "disabled"
    parameter_name = "disabled"

    def condition(self) -> Q:
        return q_disabled(timezone.now(), prefix="refresh_state__")


class StateDisabledFilter(YesNoFilter):
    title = "disabled"
    parameter_name = "disabled"

    def condition(self) -> Q:
        return q_disabled(timezone.now())


class PlanningStaleFilter(admin.SimpleListFilter):
    """Stale and missing backups exactly as the backfill job defines them (``jobs.backfill_select``).

    Missing: no backup. Stale: a backup last updated strictly more than
    ``PLANNINGS_BACKFILL_STALE_AFTER_HOURS`` ago. "Stale or missing" includes
    disabled and queued plannings; "due for backfill" leaves them out, as the
    backfill does, so it lists what the next pass enqueues (before its per-pass limits).
    """

    title = "stale"
    parameter_name = "stale"

    def lookups(self, request, model_admin):
        hours = settings.PLANNINGS_BACKFILL_STALE_AFTER_HOURS
        return [
            ("yes", f"Stale (over {hours} h) or missing"),
            ("due", "Due for backfill"),
            ("no", "Fresh"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "yes":
            return queryset.filter(q_stale_or_missing(now))
        if self.value() == "due":
            return queryset.filter(q_stale_or_missing(now), q_backfill_eligible(now))
        if self.value() == "no":
            return queryset.filter(q_backup_fresh(now))
        return queryset


class PlanningQueuedFilter(YesNoFilter):
    title = "in queue"
    parameter_name = "queued"

    def condition(self) -> Q:
        return q_queued()


class PlanningReadyFilter(YesNoFilter):
    """Queued, not locked, due (``next_attempt_at <= now``) and under the maximum attempts: claimable now."""

    title = "ready"
    parameter_name = "ready"

    def condition(self) -> Q:
        return q_queued(q_ready(timezone.now(), settings.PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS))


class PlanningLockedFilter(YesNoFilter):
    """Queue row locked less than LOCK_TTL_SECONDS ago (a live claim, which "release lock" acts on).

    Unlike the health figure, this includes a row claimed for its last attempt
    (``attempts`` = max): its worker is still fetching it.
    """

    title = "locked"
    parameter_name = "locked"

    def condition(self) -> Q:
        return q_queued(q_live_lock(timezone.now()))


class QueueStateFilter(admin.SimpleListFilter):
    """Queue rows as the health endpoint counts them."""

    title = "queue state"
    parameter_name = "queue_state"

    def lookups(self, request, model_admin):
        return [
            ("ready", "Ready"),
            ("waiting", "Waiting (backoff)"),
            ("locked", "Locked"),
            ("dead", "Dead (max attempts)"),
        ]

    def queryset(self, request, queryset):
        conditions = queue_states(timezone.now(), settings.PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS)
        if self.value() in conditions:
            return queryset.filter(conditions[self.value()])
        return queryset


# --- Operator actions --------------------------------------------------------------


def _plannings(count: int) -> str:
    return f"{count} planning" if count == 1 else f"{count} plannings"


def _were(count: int) -> str:
    return f"{count} was" if count == 1 else f"{count} were"


class OperatorActions:
    """The operator's actions, for every admin whose primary key is a planning's full id.

    ``permissions=["operate"]`` makes Django call ``has_operate_permission``: a
    user without it neither sees the actions nor can post one (the action form
    rejects a choice it did not offer).
    """

    def has_operate_permission(self, request) -> bool:
        return request.user.has_perm(OPERATE_PERMISSION)

    def _report(self, request, done: int, message: str, skipped: int, why: str) -> None:
        if skipped:
            message = f"{message} {_were(skipped)} {why}."
        self.message_user(request, message, messages.SUCCESS if done else messages.WARNING)

    @admin.action(description="Refresh now", permissions=["operate"])
    def refresh_now(self, request, queryset):
        full_ids = list(queryset.values_list("pk", flat=True)[: REFRESH_NOW_LIMIT + 1])
        if len(full_ids) > REFRESH_NOW_LIMIT:
            self.message_user(
                request,
                f"Refresh now takes at most {REFRESH_NOW_LIMIT} plannings at a time; nothing was queued. "
                "Narrow the selection: the backfill refreshes stale plannings on its own.",
                messages.ERROR,
            )
            return None
        queued = operator_actions.plannings_refresh(planning_full_ids=full_ids, now=timezone.now())
        self._report(
            request,
            queued,
            f"Queued {_plannings(queued)} for a refresh.",
            len(full_ids) - queued,
            "skipped: already requested in the last 30 seconds",
        )

    @admin.action(description="Re-enable (and refresh)", permissions=["operate"])
    def reenable(self, request, queryset):
        full_ids = list(queryset.values_list("pk", flat=True))
        reenabled = operator_actions.plannings_reenable(planning_full_ids=full_ids, now=timezone.now())
        self._report(
            request, reenabled, f"Re-enabled {_plannings(reenabled)}.", len(full_ids) - reenabled, "not disabled"
        )

    @admin.action(description="Release lock", permissions=["operate"])
    def release_locks(self, request, queryset):
        """Confirmed first: a live lock may belong to a worker still fetching the planning."""
        if request.POST.get("post") != "yes":
            locked = PlanningRefreshQueue.objects.with_lock().filter(planning_id__in=queryset.values("pk"))
            locks = list(locked.order_by("-locked_at")[: LOCKS_LISTED + 1])
            if not locks:
                message = "None of the selected plannings is locked; nothing was released."
                self.message_user(request, message, messages.WARNING)
                return None
            return self._release_confirmation(request, locks)
        full_ids = list(queryset.values_list("pk", flat=True))
        released = operator_actions.plannings_release_locks(planning_full_ids=full_ids)
        self._report(
            request,
            released,
            f"Released the locks of {_plannings(released)}.",
            len(full_ids) - released,
            "not locked",
        )

    def _release_confirmation(self, request, locks: list[PlanningRefreshQueue]) -> TemplateResponse:
        now = timezone.now()
        # The confirmation posts the original selection back (select-all included), plus post=yes.
        replay = [
            (name, value)
            for name, values in request.POST.lists()
            if name not in {"csrfmiddlewaretoken", "index", "post"}
            for value in values
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Release the locks?",
            "opts": self.model._meta,
            "locks": [(lock, lock.lock_is_live(now)) for lock in locks[:LOCKS_LISTED]],
            "more": len(locks) > LOCKS_LISTED,
            "live": sum(1 for lock in locks if lock.lock_is_live(now)),
            "ttl_minutes": LOCK_TTL_SECONDS // 60,
            "replay": replay,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/plannings/release_locks_confirmation.html", context)

    @admin.action(description="Retry now", permissions=["operate"])
    def retry_now(self, request, queryset):
        full_ids = list(queryset.values_list("pk", flat=True))
        moved = operator_actions.plannings_retry_now(planning_full_ids=full_ids, now=timezone.now())
        self._report(
            request,
            moved,
            f"Moved the next attempt of {_plannings(moved)} to now.",
            len(full_ids) - moved,
            "not waiting in the queue (not queued, already due, or out of attempts)",
        )


# --- Pages --------------------------------------------------------------------------


def _related(obj, name: str):
    """A reverse one-to-one row or None; with select_related, a missing row costs no query."""
    try:
        return getattr(obj, name)
    except ObjectDoesNotExist:
        return None


def _fields_table(row, fields: list[tuple[str, str]], empty: str):
    if row is None:
        return empty
    cells = ((label, display_for_value(getattr(row, name), "-")) for label, name in fields)
    return format_html("<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", cells))


def _event_time(value) -> str:
    """An event's ISO-8601 UTC time in the portal's time zone; anything unparseable as it is."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return "" if value is None else str(value)
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"


@admin.register(Planning)
class PlanningAdmin(OperatorActions, ReadOnlyAdmin):
    list_display = [
        "full_id",
        "title",
        "last_success",
        "failures",
        "failure_kind",
        "disabled_until",
        "next_attempt",
        "backup_updated",
    ]
    list_filter = [
        PlanningHostFilter,
        PlanningDisabledFilter,
        HasBackupFilter,
        PlanningStaleFilter,
        PlanningQueuedFilter,
        PlanningReadyFilter,
        PlanningLockedFilter,
    ]
    # State and queue rows are small: joined. The backup is joined for its date only (get_queryset).
    list_select_related = ["refresh_state", "refresh_queue"]
    search_fields = ["full_id", "title"]
    actions = ["refresh_now", "reenable", "release_locks", "retry_now"]
    fields = [
        "full_id",
        "planning_id",
        "title",
        "url",
        "created_at",
        "updated_at",
        "refresh_state_table",
        "refresh_queue_table",
        "backup_link",
    ]
    readonly_fields = ["refresh_state_table", "refresh_queue_table", "backup_link"]

    def get_queryset(self, request):
        # select_related("backup") would load every row's events, which can be megabytes.
        return super().get_queryset(request).annotate(backup_updated_at=F("backup__updated_at"))

    @admin.display(description="last success", ordering="refresh_state__last_success_at")
    def last_success(self, obj):
        state = _related(obj, "refresh_state")
        return state and state.last_success_at

    @admin.display(description="failures", ordering="refresh_state__consecutive_failures")
    def failures(self, obj):
        state = _related(obj, "refresh_state")
        return state and state.consecutive_failures

    @admin.display(description="last failure", ordering="refresh_state__last_failure_kind")
    def failure_kind(self, obj):
        state = _related(obj, "refresh_state")
        return state and state.last_failure_kind

    @admin.display(description="disabled until", ordering="refresh_state__disabled_until")
    def disabled_until(self, obj):
        state = _related(obj, "refresh_state")
        return state and state.disabled_until

    @admin.display(description="next attempt", ordering="refresh_queue__next_attempt_at")
    def next_attempt(self, obj):
        queued = _related(obj, "refresh_queue")
        return queued and queued.next_attempt_at

    @admin.display(description="backup updated", ordering="backup__updated_at")
    def backup_updated(self, obj):
        return obj.backup_updated_at

    # The page of one planning: its state and queue row (one primary-key read each).

    @admin.display(description="refresh state")
    def refresh_state_table(self, obj):
        fields = [
            ("disabled until", "disabled_until"),
            ("consecutive failures", "consecutive_failures"),
            ("last failure kind", "last_failure_kind"),
            ("last error", "last_error"),
            ("last attempt", "last_attempt_at"),
            ("last success", "last_success_at"),
            ("updated", "updated_at"),
        ]
        return _fields_table(_related(obj, "refresh_state"), fields, "Never refreshed")

    @admin.display(description="refresh queue")
    def refresh_queue_table(self, obj):
        fields = [
            ("priority", "priority"),
            ("attempts", "attempts"),
            ("requested", "requested_at"),
            ("next attempt", "next_attempt_at"),
            ("locked at", "locked_at"),
            ("lock owner", "lock_owner"),
            ("last error", "last_error"),
        ]
        return _fields_table(_related(obj, "refresh_queue"), fields, "Not queued")

    @admin.display(description="backup")
    def backup_link(self, obj):
        if obj.backup_updated_at is None:
            return "No backup"
        url = reverse(f"{self.admin_site.name}:plannings_planningbackup_change", args=[obj.pk])
        updated = display_for_value(obj.backup_updated_at, "-")
        return format_html('<a href="{}">Events</a>, updated {}', url, updated)


@admin.register(PlanningBackup)
class PlanningBackupAdmin(OperatorActions, ReadOnlyAdmin):
    list_display = ["planning", "signature", "updated_at"]
    list_filter = [HostFilter]
    list_select_related = ["planning"]
    search_fields = ["planning__full_id", "planning__title"]
    actions = ["refresh_now"]
    fields = ["planning", "signature", "updated_at", "events_table"]
    readonly_fields = ["events_table"]

    def get_queryset(self, request):
        # The list never shows the events; the page of one backup loads them with one more read.
        return super().get_queryset(request).defer("events")

    @admin.display(description="events")
    def events_table(self, obj):
        events = obj.events if isinstance(obj.events, list) else []
        events = sorted(
            (event for event in events if isinstance(event, dict)),
            key=lambda event: (str(event.get("startDate") or ""), str(event.get("endDate") or "")),
        )
        if not events:
            return "No events"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    _event_time(event.get("startDate")),
                    _event_time(event.get("endDate")),
                    event.get("summary") or "",
                    event.get("location") or "",
                )
                for event in events
            ),
        )
        return format_html(
            "<p>{} events, times in {}.</p><table><thead><tr><th>Start</th><th>End</th><th>Summary</th>"
            "<th>Location</th></tr></thead><tbody>{}</tbody></table>",
            len(events),
            timezone.get_current_timezone_name(),
            rows,
        )


@admin.register(PlanningRefreshQueue)
class PlanningRefreshQueueAdmin(OperatorActions, ReadOnlyAdmin):
    list_display = [
        "planning",
        "priority",
        "attempts",
        "next_attempt_at",
        "locked_at",
        "lock_owner",
        "last_error",
    ]
    list_filter = [QueueStateFilter, HostFilter, "last_error"]
    list_select_related = ["planning"]
    search_fields = ["planning__full_id", "planning__title"]
    actions = ["refresh_now", "release_locks", "retry_now"]


@admin.register(PlanningRefreshState)
class PlanningRefreshStateAdmin(OperatorActions, ReadOnlyAdmin):
    list_display = [
        "planning",
        "disabled_until",
        "consecutive_failures",
        "last_failure_kind",
        "last_attempt_at",
        "last_success_at",
    ]
    list_filter = [StateDisabledFilter, HostFilter, "last_failure_kind"]
    list_select_related = ["planning"]
    search_fields = ["planning__full_id", "planning__title"]
    actions = ["reenable", "refresh_now"]


@admin.register(JobRuntime)
class JobRuntimeAdmin(ReadOnlyAdmin):
    list_display = ["job_id", "state", "last_loop_at", "last_work_at", "last_error"]
