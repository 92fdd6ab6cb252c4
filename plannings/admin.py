"""Admin for the mirrored tables: searchable, filterable, read-only (actions come later)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.db.models import Q
from django.utils import timezone

from opsportal.admin import ReadOnlyAdmin
from plannings.models import (
    LOCK_TTL_SECONDS,
    JobRuntime,
    Planning,
    PlanningBackup,
    PlanningRefreshQueue,
    PlanningRefreshState,
)


class HostFilter(admin.SimpleListFilter):
    """The school slug (first segment of the full id), as ops payloads call it "host"."""

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
        return Q(refresh_state__disabled_until__gt=timezone.now())


class StateDisabledFilter(YesNoFilter):
    title = "disabled"
    parameter_name = "disabled"

    def condition(self) -> Q:
        return Q(disabled_until__gt=timezone.now())


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
        from django.conf import settings

        now = timezone.now()
        cutoff = now - timedelta(seconds=LOCK_TTL_SECONDS)
        alive = Q(attempts__lt=settings.PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS)
        unlocked = Q(locked_at__isnull=True) | Q(locked_at__lt=cutoff)
        conditions = {
            "ready": alive & Q(next_attempt_at__lte=now) & unlocked,
            "waiting": alive & Q(next_attempt_at__gt=now) & unlocked,
            "locked": alive & Q(locked_at__gte=cutoff),
            "dead": ~alive,
        }
        if self.value() in conditions:
            return queryset.filter(conditions[self.value()])
        return queryset


@admin.register(Planning)
class PlanningAdmin(ReadOnlyAdmin):
    list_display = ["full_id", "title", "planning_id", "updated_at"]
    list_filter = [PlanningHostFilter, HasBackupFilter, PlanningDisabledFilter]
    search_fields = ["full_id", "title"]


@admin.register(PlanningBackup)
class PlanningBackupAdmin(ReadOnlyAdmin):
    list_display = ["planning", "signature", "updated_at"]
    list_filter = [HostFilter]
    list_select_related = ["planning"]
    search_fields = ["planning__full_id", "planning__title"]


@admin.register(PlanningRefreshQueue)
class PlanningRefreshQueueAdmin(ReadOnlyAdmin):
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


@admin.register(PlanningRefreshState)
class PlanningRefreshStateAdmin(ReadOnlyAdmin):
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


@admin.register(JobRuntime)
class JobRuntimeAdmin(ReadOnlyAdmin):
    list_display = ["job_id", "state", "last_loop_at", "last_work_at", "last_error"]
