"""Admin for the mirrored tables: searchable, filterable, read-only except through the operator's actions.

The actions (refresh now, re-enable, release lock, retry now) need the
``plannings.operate_plannings`` permission: Django lists an action, and accepts
a posted one, only when ``has_operate_permission`` allows it. They write through
``plannings.operator_actions``, one transaction each (audited in it), and report what they did and skipped.
The service decides the permission again (a forged post is refused and recorded there).

A planning's page (``PlanningAdmin.change_view``) is its whole story: state, queue row, backup,
feed and refresh attempts, with the same actions as buttons for that one planning.
Dates are in the portal's one format (relative, the exact UTC time on hover): ``time_column`` in
the lists, ``|ago`` in ``templates/admin/plannings/planning/story.html``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db.models import F, Q
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from opsportal.audit.refusals import RefusalsAudited
from opsportal.audit.services import Actor, audit_refusal_record
from opsportal.lib.admin import KeysFirstPaginator, ReadOnlyAdmin, time_column
from plannings import feeds, operator_actions, policy, scopes, selectors
from plannings.models import (
    LOCK_TTL_SECONDS,
    QUEUE_STATE_LABELS,
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
    queue_row_state,
    queue_states,
    stale_before,
)

OPERATE_PERMISSION = scopes.OPERATE_PERMISSION
# Live locks are few (a batch per worker); the confirmation page lists at most this many.
LOCKS_LISTED = 100


# --- Filters ------------------------------------------------------------------------


class HostFilter(admin.SimpleListFilter):
    """The school slug (first segment of the full id), as ops payloads call it "host".

    The catalog stores that slug as ``planning_id``; the choices are its distinct values
    (``selectors.planning_hosts``: on PostgreSQL one index probe per host, not a scan of the catalog).
    """

    title = "host"
    parameter_name = "host"
    prefix = "planning__"

    def lookups(self, request, model_admin):
        return [(host, host) for host in selectors.planning_hosts()]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(selectors.q_planning_host(self.value(), prefix=self.prefix))
        return queryset


class PlanningHostFilter(HostFilter):
    prefix = ""


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

    def queryset(self, request, queryset):
        if self.value() == "no":  # a kept set on PostgreSQL: no index serves the negation
            return queryset.filter(selectors.q_planning_without_backup())
        return super().queryset(request, queryset)


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
        return [(state, label.capitalize()) for state, label in QUEUE_STATE_LABELS.items()]

    def queryset(self, request, queryset):
        conditions = queue_states(timezone.now(), settings.PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS)
        if self.value() in conditions:
            return queryset.filter(conditions[self.value()])
        return queryset


def state_failure(state: PlanningRefreshState | None) -> str | None:
    """A state's last failure as the filter names it: client errors by status, the rest by kind."""
    return None if state is None else policy.failure_value(state.last_failure_kind, state.last_error)


failure_label = policy.failure_label


class FailureKindFilter(admin.SimpleListFilter):
    """Plannings whose last refresh failed, by kind (client errors by status), each with its count.

    The counts come from one grouped statement (``selectors.failure_kind_counts``). A
    success clears the kind; a re-enable keeps it until the next success, so this is
    "failing now, or not refreshed since".
    """

    title = "last failure"
    parameter_name = "failure"
    prefix = "refresh_state__"

    def lookups(self, request, model_admin):
        counts = selectors.failure_kind_counts()
        return [
            (policy.ANY_FAILURE, f"any ({sum(row.count for row in counts)})"),
            *((row.value, f"{failure_label(row.value)} ({row.count})") for row in counts),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        kind, error = f"{self.prefix}last_failure_kind", f"{self.prefix}last_error"
        if value == policy.ANY_FAILURE:
            return queryset.filter(**{f"{kind}__isnull": False})
        if value.startswith("http_4") and value != policy.HTTP_4XX:
            return queryset.filter(**{kind: policy.HTTP_4XX, error: value})
        if value == policy.HTTP_4XX:
            return queryset.filter(**{kind: value}).exclude(**{f"{error}__startswith": "http_4"})
        return queryset.filter(**{kind: value})


class StateFailureKindFilter(FailureKindFilter):
    prefix = ""


# --- Operator actions --------------------------------------------------------------


def _plannings(count: int) -> str:
    return f"{count} planning" if count == 1 else f"{count} plannings"


def _were(count: int) -> str:
    return f"{count} was" if count == 1 else f"{count} were"


class OperatorActions:
    """The operator's actions, for every admin whose primary key is a planning's full id.

    ``permissions=["operate"]`` makes Django call ``has_operate_permission``: a
    user without it does not see the actions, and one posted anyway is refused
    with a 403 and a refused row (``RefusalsAudited``).
    """

    def has_operate_permission(self, request) -> bool:
        return request.user.has_perm(OPERATE_PERMISSION)

    def _report(self, request, done: int, message: str, skipped: int, why: str) -> None:
        if skipped:
            message = f"{message} {_were(skipped)} {why}."
        self.message_user(request, message, messages.SUCCESS if done else messages.WARNING)

    @admin.action(description="Refresh now", permissions=["operate"])
    def refresh_now(self, request, queryset):
        limit = operator_actions.REFRESH_NOW_LIMIT
        full_ids = list(queryset.values_list("pk", flat=True)[: limit + 1])
        actor = Actor.portal(request.user)
        try:
            outcome = operator_actions.plannings_refresh(planning_full_ids=full_ids, now=timezone.now(), actor=actor)
        except operator_actions.OperatorActionRefused as refused:
            if refused.code != "too_many":
                raise PermissionDenied(refused.detail) from None
            self.message_user(
                request,
                f"Refresh now takes at most {limit} plannings at a time; nothing was queued. "
                "Narrow the selection: the backfill refreshes stale plannings on its own.",
                messages.ERROR,
            )
            return None
        queued = outcome.changed_count
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
        actor = Actor.portal(request.user)
        outcome = operator_actions.plannings_reenable(planning_full_ids=full_ids, now=timezone.now(), actor=actor)
        reenabled = outcome.changed_count
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
        actor = Actor.portal(request.user)
        released = operator_actions.plannings_release_locks(planning_full_ids=full_ids, actor=actor).changed_count
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
        actor = Actor.portal(request.user)
        outcome = operator_actions.plannings_retry_now(planning_full_ids=full_ids, now=timezone.now(), actor=actor)
        moved = outcome.changed_count
        self._report(
            request,
            moved,
            f"Moved the next attempt of {_plannings(moved)} to now.",
            len(full_ids) - moved,
            "not waiting in the queue (not queued, already due, or out of attempts)",
        )


# --- Pages --------------------------------------------------------------------------

# Ids longer than this are shown as their first and last characters around an ellipsis,
# the whole id in the title attribute (on hover) and on the row's page.
SHORT_ID_HEAD = 10
SHORT_ID_TAIL = 10
TITLE_SHOWN = 48


def short_id(value: str | None) -> str:
    """``fac-sciences-r…industriel`` with the full id on hover; short ids as they are."""
    if not value:
        return "-"
    if len(value) <= SHORT_ID_HEAD + SHORT_ID_TAIL + 1:
        return format_html('<span class="short-id" title="{}">{}</span>', value, value)
    return format_html(
        '<span class="short-id" title="{}">{}…{}</span>', value, value[:SHORT_ID_HEAD], value[-SHORT_ID_TAIL:]
    )


ERROR_SHOWN = 40


def short_text(value: str | None, limit: int = ERROR_SHOWN) -> str:
    """Free text (an error) cut to ``limit`` characters in a list, whole on hover; may wrap anywhere."""
    if not value:
        return "-"
    shown = value if len(value) <= limit else value[: limit - 1] + "…"
    return format_html('<span class="short-text" title="{}">{}</span>', value, shown)


def _related(obj, name: str):
    """A reverse one-to-one row or None; with select_related, a missing row costs no query."""
    try:
        return getattr(obj, name)
    except ObjectDoesNotExist:
        return None


def _event_time(value) -> str:
    """An event's ISO-8601 UTC time in the portal's time zone; anything unparseable as it is."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return "" if value is None else str(value)
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"


def queue_status(queued: PlanningRefreshQueue | None, state: PlanningRefreshState | None, now: datetime) -> str:
    """One phrase for where a planning stands: disabled, its queue row's state (``queue_row_state``, the
    health endpoint's and the queue-state filter's own rules and words), or, not queued, failing or idle."""
    if state is not None and state.disabled_until is not None and state.disabled_until > now:
        return "disabled"
    if queued is None:
        return "failing" if state is not None and state.last_failure_kind else "idle"
    return QUEUE_STATE_LABELS[queue_row_state(queued, now, settings.PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS)]


class ShortPlanningColumn:
    """The ``planning`` column of the tables keyed by a planning: its id, shortened."""

    @admin.display(description="planning", ordering="planning_id")
    def planning_short(self, obj):
        return short_id(obj.planning_id)


OPERATE_URL = "plannings_planning_operate"
# The buttons of a planning's page: their URL segment and label.
PAGE_ACTIONS = {
    "refresh-now": "Refresh now",
    "reenable": "Re-enable",
    "retry-now": "Retry now",
}
PAGE_AUDIT_NAMES = {
    "refresh-now": operator_actions.AUDIT_REFRESH_NOW,
    "reenable": operator_actions.AUDIT_REENABLE,
    "retry-now": operator_actions.AUDIT_RETRY_NOW,
}


# Query parameters of a change list that do not narrow it: its ordering, its page.
LIST_VIEW_PARAMS = {"o", "p"}


@admin.register(Planning)
class PlanningAdmin(RefusalsAudited, OperatorActions, ReadOnlyAdmin):
    list_display = [
        "id_short",
        "status",
        "failures",
        "failure_kind",
        "last_success",
        "backup_updated",
    ]
    list_display_links = ["id_short"]
    # Counting every planning a filter matches grew with the catalog (issue #23): counted up to a cap;
    # a page reads its keys first, then joins the state, queue row and backup date of those keys only.
    paginator = KeysFirstPaginator
    list_filter = [
        FailureKindFilter,
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

    def get_queryset(self, request):
        # select_related("backup") would load every row's events, which can be megabytes.
        return super().get_queryset(request).annotate(backup_updated_at=F("backup__updated_at"))

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        paginator = super().get_paginator(request, queryset, per_page, orphans, allow_empty_first_page)
        filtered = {key: request.GET.getlist(key) for key in request.GET if key not in LIST_VIEW_PARAMS}
        if len(filtered) == 1:
            # One filter alone (no search, no other filter): its count may be kept (on PostgreSQL).
            [(name, values)] = filtered.items()
            if name in {list_filter.parameter_name for list_filter in self.list_filter} and len(values) == 1:
                paginator.kept_count = lambda: selectors.plannings_count_kept(
                    name=name, value=values[0], now=timezone.now(), limit=paginator.CAP + 1
                )
        return paginator

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None and changelist.paginator.capped:
            # "Select all" acts on every matching planning, not on the capped count.
            response.context_data["selection_note_all"] = (
                f"All matching plannings selected (more than {changelist.paginator.CAP})"
            )
        return response

    @admin.display(description="planning", ordering="full_id")
    def id_short(self, obj):
        """The short id, its title beneath (shortened too: the whole is on the planning's page)."""
        title = obj.title or ""
        if len(title) > TITLE_SHOWN:
            title = title[: TITLE_SHOWN - 1] + "…"
        return format_html('{}<br><span class="planning-title">{}</span>', short_id(obj.full_id), title)

    @admin.display(description="status")
    def status(self, obj):
        return queue_status(_related(obj, "refresh_queue"), _related(obj, "refresh_state"), timezone.now())

    last_success = time_column("refresh_state__last_success_at", description="last success")

    @admin.display(description="failures", ordering="refresh_state__consecutive_failures")
    def failures(self, obj):
        state = _related(obj, "refresh_state")
        return state and state.consecutive_failures

    @admin.display(description="last failure", ordering="refresh_state__last_failure_kind")
    def failure_kind(self, obj):
        kind = state_failure(_related(obj, "refresh_state"))
        return kind and failure_label(kind)

    backup_updated = time_column("backup_updated_at", description="backup updated", ordering="backup__updated_at")

    # --- The page of one planning: its story, and its three buttons ---------------------

    def get_urls(self):
        operate = path(
            "<path:object_id>/operate/<slug:action>/",
            self.admin_site.admin_view(self.operate_view),
            name=OPERATE_URL,
        )
        return [operate, *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """Everything about one planning in one place, as healthchecks.io shows a check's log.

        Rendered from ``selectors.planning_story`` alone (two statements) rather than
        the admin's read-only form, whose widgets would read the rows again.
        """
        full_id = unquote(object_id)
        story = selectors.planning_story(full_id=full_id)
        if story is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, story.planning):
            raise PermissionDenied
        planning, now = story.planning, timezone.now()
        state, queued = _related(planning, "refresh_state"), _related(planning, "refresh_queue")
        feed_href = ""
        if planning.url and planning.url.lower().startswith(("http://", "https://")):
            feed_href = feeds.feed_url(planning.url, today=now.astimezone(timezone.get_current_timezone()).date())
        context = {
            **self.admin_site.each_context(request),
            "title": planning.title or planning.full_id,
            "subtitle": planning.full_id,
            "opts": self.opts,
            "planning": planning,
            "state": state,
            "queued": queued,
            "status": queue_status(queued, state, now),
            "disabled": bool(state and state.disabled_until and state.disabled_until > now),
            "lock_live": bool(queued and queued.lock_is_live(now)),
            "last_failure": state_failure(state) and failure_label(state_failure(state)),
            "backup_stale": bool(planning.backup_updated_at and planning.backup_updated_at < stale_before(now)),
            "backup_url": reverse(f"{self.admin_site.name}:plannings_planningbackup_change", args=[planning.pk]),
            "feed_href": feed_href,
            "attempts": [(attempt, failure_label(attempt.outcome)) for attempt in story.attempts],
            "attempts_shown": selectors.ATTEMPTS_SHOWN,
            "retention_days": settings.PLANNINGS_ATTEMPTS_RETENTION_DAYS,
            "can_operate": self.has_operate_permission(request),
            "actions": [
                (reverse(f"{self.admin_site.name}:{OPERATE_URL}", args=[planning.pk, slug]), label)
                for slug, label in PAGE_ACTIONS.items()
            ],
            "max_attempts": settings.PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/plannings/planning/story.html", context)

    def operate_view(self, request, object_id, action):
        """A button of the planning's page: the operator action on this one planning, audited, then back."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if action not in PAGE_ACTIONS:
            raise Http404("no such action")
        full_id = unquote(object_id)
        actor = Actor.portal(request.user)
        if not self.has_view_permission(request):
            # Capped like every refusal: a user without the right cannot grow the trail by looping.
            audit_refusal_record(
                actor=actor,
                action=PAGE_AUDIT_NAMES[action],
                target_type="planning",
                targets=[full_id],
                detail="without the permission to view plannings",
            )
            raise PermissionDenied
        ids = [full_id]
        try:
            # The service refuses (and records) a user without the permission to operate plannings.
            operator_actions.operator_refusal(actor=actor, action=PAGE_AUDIT_NAMES[action], planning_full_ids=ids)
        except operator_actions.OperatorActionRefused:
            raise PermissionDenied from None
        if not Planning.objects.filter(pk=full_id).exists():
            raise Http404("no such planning")
        now = timezone.now()
        if action == "refresh-now":
            done = operator_actions.plannings_refresh(planning_full_ids=ids, now=now, actor=actor).changed
            message = "Queued for a refresh." if done else "Skipped: already requested in the last 30 seconds."
        elif action == "reenable":
            done = operator_actions.plannings_reenable(planning_full_ids=ids, now=now, actor=actor).changed
            message = "Re-enabled and queued for a refresh." if done else "Skipped: not disabled."
        else:
            done = operator_actions.plannings_retry_now(planning_full_ids=ids, now=now, actor=actor).changed
            message = (
                "Moved the next attempt to now."
                if done
                else "Skipped: not waiting in the queue (not queued, already due, or out of attempts)."
            )
        self.message_user(request, message, messages.SUCCESS if done else messages.WARNING)
        change = reverse(f"{self.admin_site.name}:plannings_planning_change", args=[full_id])
        return HttpResponseRedirect(change)


@admin.register(PlanningBackup)
class PlanningBackupAdmin(RefusalsAudited, ShortPlanningColumn, OperatorActions, ReadOnlyAdmin):
    list_display = ["planning_short", "title", "signature_short", "updated"]
    list_display_links = ["planning_short"]
    list_filter = [HostFilter]
    list_select_related = ["planning"]
    search_fields = ["planning__full_id", "planning__title"]
    actions = ["refresh_now"]
    fields = ["planning", "signature", "updated_at", "events_table"]
    readonly_fields = ["events_table"]

    def get_queryset(self, request):
        # The list never shows the events; the page of one backup loads them with one more read.
        return super().get_queryset(request).defer("events")

    updated = time_column("updated_at", description="updated")

    @admin.display(description="title", ordering="planning__title")
    def title(self, obj):
        return obj.planning.title

    @admin.display(description="signature", ordering="signature")
    def signature_short(self, obj):
        return format_html('<span class="short-id" title="{}">{}…</span>', obj.signature, obj.signature[:8])

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
class PlanningRefreshQueueAdmin(RefusalsAudited, ShortPlanningColumn, OperatorActions, ReadOnlyAdmin):
    list_display = ["planning_short", "state", "next_attempt", "lock", "error"]
    list_display_links = ["planning_short"]
    list_filter = [QueueStateFilter, HostFilter, "last_error"]
    search_fields = ["planning__full_id", "planning__title"]
    actions = ["refresh_now", "release_locks", "retry_now"]

    @admin.display(description="state", ordering="-priority")
    def state(self, obj):
        """Where the row stands, with its attempts and priority beneath."""
        return format_html(
            '{}<br><span class="planning-title">attempt {}, priority {}</span>',
            queue_status(obj, None, timezone.now()),
            obj.attempts,
            obj.priority,
        )

    next_attempt = time_column("next_attempt_at", description="next attempt")

    @admin.display(description="last error", ordering="last_error")
    def error(self, obj):
        return short_text(obj.last_error)

    @admin.display(description="lock", ordering="locked_at")
    def lock(self, obj):
        if obj.locked_at is None:
            return "-"
        live = "live" if obj.lock_is_live(timezone.now()) else "expired"
        return format_html('{}<br><span class="planning-title">{}</span>', live, short_id(obj.lock_owner))


@admin.register(PlanningRefreshState)
class PlanningRefreshStateAdmin(RefusalsAudited, ShortPlanningColumn, OperatorActions, ReadOnlyAdmin):
    list_display = [
        "planning_short",
        "disabled",
        "consecutive_failures",
        "failure",
        "last_attempt",
        "last_success",
    ]
    list_display_links = ["planning_short"]
    list_filter = [StateFailureKindFilter, StateDisabledFilter, HostFilter]
    search_fields = ["planning__full_id", "planning__title"]
    actions = ["reenable", "refresh_now"]

    disabled = time_column("disabled_until", description="disabled until")
    last_attempt = time_column("last_attempt_at", description="last attempt")
    last_success = time_column("last_success_at", description="last success")

    @admin.display(description="last failure", ordering="last_failure_kind")
    def failure(self, obj):
        kind = state_failure(obj)
        return kind and failure_label(kind)


@admin.register(JobRuntime)
class JobRuntimeAdmin(RefusalsAudited, ReadOnlyAdmin):
    list_display = ["job_id", "state", "last_loop", "last_work", "last_error"]
    last_loop = time_column("last_loop_at", description="last loop")
    last_work = time_column("last_work_at", description="last work")
