"""The Audit page: the trail, read-only, newest first, filtered by action, way, outcome and date.

Neither its number of queries nor its time grows with the trail: no full count (the count stops at
``CappedCountPaginator.CAP``), no facet counts (``ReadOnlyAdmin``), filters whose choices are constants (no
``SELECT DISTINCT`` over the table), and a search its indexes serve (``migrations/0005_search_indexes``).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import Q
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from opsportal.audit.models import AuditEvent
from opsportal.audit.refusals import RefusalsAudited
from opsportal.lib.admin import CappedCountPaginator, ReadOnlyAdmin, time_column

# The action names written today (the README's "Audit trail" lists what each means). A filter over
# constants costs no query; an action written later and not listed here is still found by search.
KNOWN_ACTIONS = (
    "alerts.acknowledge",
    "alerts.channel.change",
    "alerts.channel.create",
    "alerts.channel.delete",
    "alerts.channel.test",
    "alerts.maintenance_change",
    "alerts.maintenance_create",
    "alerts.maintenance_delete",
    "alerts.mute",
    "alerts.rule.change",
    "alerts.rule.create",
    "alerts.rule.delete",
    "alerts.unacknowledge",
    "alerts.unmute",
    "audit.prune",
    "auth.group.change",
    "auth.group.create",
    "auth.group.delete",
    "auth.group.permissions",
    "auth.lockout",
    "auth.login",
    "auth.logout",
    "auth.user.change",
    "auth.user.create",
    "auth.user.delete",
    "auth.user.groups",
    "auth.user.permissions",
    "container.health_check",
    "container.restart",
    "jobs.pause",
    "jobs.resume",
    "jobs.run_backfill",
    "jobs.run_drain",
    "plannings.refresh_now",
    "plannings.reenable",
    "plannings.release_locks",
    "plannings.retry_now",
    "token.create",
    "token.revoke",
)


ID_SHOWN = 28  # characters of an object's id shown in the list
DETAIL_SHOWN = 60


class ActionFilter(admin.SimpleListFilter):
    title = "action"
    parameter_name = "action"

    def lookups(self, request, model_admin):
        groups = sorted({name.split(".")[0] for name in KNOWN_ACTIONS})
        return [(f"{group}.", f"{group}.*") for group in groups] + [(name, name) for name in KNOWN_ACTIONS]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(action__startswith=value) if value.endswith(".") else queryset.filter(action=value)


@admin.register(AuditEvent)
class AuditEventAdmin(RefusalsAudited, ReadOnlyAdmin):
    list_display = ["when_shown", "actor_shown", "action_shown", "outcome_shown", "targets_shown", "detail_shown"]
    list_filter = [ActionFilter, "via", "outcome", "created_at"]
    search_fields = ["actor", "token_name", "targets"]
    search_help_text = "Part of an actor's or a token's name, or an object's exact id."
    ordering = ["-created_at", "-id"]
    list_per_page = 100
    # Counting every matching row read ten million of them on each page view: "more than 10000" past the cap.
    paginator = CappedCountPaginator
    fields = [
        "created_at", "actor", "via", "token_name", "action", "outcome", "target_type", "target_count", "targets",
        "changed", "detail", "changes_shown", "prev_hash", "row_hash",
    ]  # fmt: skip
    readonly_fields = ["changes_shown"]

    class Media:
        css = {"all": ["audit/audit.css"]}

    # The portal's one date format: relative, the exact UTC time on hover (and on the row's page).
    when_shown = time_column("created_at", description="when")

    @admin.display(description="action", ordering="action")
    def action_shown(self, event: AuditEvent):
        # A narrow column breaks a dotted name after its dots, not inside a word.
        return format_html_join(mark_safe(".<wbr>"), "{}", ((part,) for part in event.action.split(".")))

    @admin.display(description="outcome", ordering="outcome")
    def outcome_shown(self, event: AuditEvent):
        changed = f", {event.changed} changed" if event.changed is not None and event.target_count > 1 else ""
        return f"{event.outcome}{changed}"

    @admin.display(description="who", ordering="actor")
    def actor_shown(self, event: AuditEvent):
        token = f", token {event.token_name}" if event.token_name else ""
        return format_html('{}<br><span class="quiet">via {}{}</span>', event.actor, event.via, token)

    @admin.display(description="on")
    def targets_shown(self, event: AuditEvent):
        # The first object, its id shortened in the middle (both ends tell ids apart); all of them on hover.
        if not event.targets:
            return event.target_type or "—"
        first = event.targets[0]
        if len(first) > ID_SHOWN:
            first = f"{first[: ID_SHOWN // 2 - 1]}…{first[-(ID_SHOWN // 2 - 1) :]}"
        more = f" +{event.target_count - 1} more" if event.target_count > 1 else ""
        return format_html('<span title="{}">{} {}{}</span>', ", ".join(event.targets), event.target_type, first, more)

    @admin.display(description="changes (before → after)")
    def changes_shown(self, event: AuditEvent):
        if not event.changes:
            return "—"
        rows = format_html_join(
            "",
            '<tr><th>{}</th><td class="before">{}</td><td class="after">{}</td></tr>',
            ((name, _value(pair[0]), _value(pair[1])) for name, pair in sorted(event.changes.items())),
        )
        return format_html(
            '<table class="audit-changes"><thead><tr><th>field</th><th>before</th><th>after</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="detail")
    def detail_shown(self, event: AuditEvent):
        # The fields a change touched are named first; their values before and after are on the row's page.
        detail = event.detail
        if event.changes:
            named = f"changed {', '.join(sorted(event.changes))}"
            detail = f"{named}; {detail}" if detail else named
        if len(detail) <= DETAIL_SHOWN:
            return detail
        return format_html('<span title="{}">{}…</span>', detail, detail[:DETAIL_SHOWN])

    def get_search_results(self, request, queryset, search_term):
        # An object's id is matched whole in the ``targets`` list (JSON containment on PostgreSQL; SQLite has
        # none, so there the list's text is searched); Django's default would split the term on spaces.
        term = search_term.strip()
        if not term:
            return queryset, False
        in_targets = Q(targets__contains=[term]) if connection.vendor == "postgresql" else Q(targets__icontains=term)
        return queryset.filter(Q(actor__icontains=term) | Q(token_name__icontains=term) | in_targets), False


# Users and groups keep Django's own pages; a change their viewer may not make (an Admin role's forged POST: it
# may only view them) is refused with a row like every other page's. Their changes are recorded by changes.py.
class AuditedUserAdmin(RefusalsAudited, UserAdmin):
    pass


class AuditedGroupAdmin(RefusalsAudited, GroupAdmin):
    pass


for _model, _admin in ((get_user_model(), AuditedUserAdmin), (Group, AuditedGroupAdmin)):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, _admin)


def _value(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "(none)"
    return str(value)
