"""``GET /api/v1/admin/ops/alerts``: the alerts, open first, each with its notifications' delivery and its
acknowledgement; ``GET /api/v1/admin/ops/maintenance``: the maintenance windows open now and to come.

The API kit's Bearer tokens (``read``), error shape and parameter checks, like the other ops endpoints."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response

from opsportal.alerts.selectors import alerts_listed, maintenance_windows_listed
from opsportal.api import paging, params
from opsportal.api.base import OpsApi
from opsportal.api.paging import CursorPaging, Key
from opsportal.api.schema import errors_documented


class AlertsQuery(serializers.Serializer):
    open = params.FlagField(required=False, default=False, help_text="only open alerts (pending, alerting)")


# Open first, alerting before pending, then the history newest first (the Alerts page's order), paged.
ALERTS_PAGING = CursorPaging(Key("is_open"), Key("alerting_rank", descending=False), Key("started_at"), Key("id"))


class AlertNotificationSerializer(serializers.Serializer):
    kind = serializers.CharField()
    channel = serializers.CharField(source="channel.name")
    status = serializers.ChoiceField(choices=["pending", "sent", "failed", "muted"])
    attempts = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()


class AcknowledgementSerializer(serializers.Serializer):
    by = serializers.CharField(source="acknowledged_by")
    at = serializers.DateTimeField(source="acknowledged_at")
    comment = serializers.CharField(source="ack_comment")


class AlertSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    rule = serializers.CharField(source="rule.name")
    rule_kind = serializers.CharField(source="rule.kind")
    target = serializers.CharField()
    state = serializers.ChoiceField(choices=["ok", "pending", "alerting", "resolved", "gone"])
    flapping = serializers.BooleanField()
    held = serializers.BooleanField(help_text="held back by a deploy in progress or a maintenance window")
    acknowledged = serializers.SerializerMethodField(help_text="who acknowledged it, when, why; null: nobody")
    message = serializers.CharField()
    started_at = serializers.DateTimeField()
    fired_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    last_evaluated_at = serializers.DateTimeField()
    notifications = AlertNotificationSerializer(many=True, source="grouped_notifications.all")

    @extend_schema_field(AcknowledgementSerializer(allow_null=True))
    def get_acknowledged(self, alert) -> dict | None:
        return AcknowledgementSerializer(alert).data if alert.acknowledged_at else None


class AlertsApi(OpsApi):
    @extend_schema(
        operation_id="alerts_list",
        parameters=[AlertsQuery, *paging.PARAMETERS],
        responses={200: paging.page_serializer(AlertSerializer, name="AlertsPage"), **errors_documented(400)},
        description="Open alerts first (alerting before pending), then the history newest first, a page at a "
        'time: `results`, and `next` (also a `Link: <…>; rel="next"` header), the next page\'s URL, null on the '
        "last.",
    )
    def get(self, request):
        query = params.validated(AlertsQuery, request.query_params).validated_data
        rows, next_url = ALERTS_PAGING.page(request, alerts_listed(open_only=query["open"]))
        return ALERTS_PAGING.response(AlertSerializer(rows, many=True).data, next_url)


class MaintenanceQuery(serializers.Serializer):
    within_hours = serializers.IntegerField(
        required=False, min_value=1, max_value=24 * 366, help_text="only windows opening within this many hours"
    )


class MaintenanceWindowSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="window.pk")
    name = serializers.CharField(source="window.name")
    reason = serializers.CharField(source="window.reason")
    rule = serializers.CharField(source="window.rule.name", allow_null=True, default=None, help_text="null: every rule")
    target = serializers.CharField(source="window.target", help_text="a name or pattern; empty: every target")
    recurrence = serializers.ChoiceField(source="window.recurrence", choices=["once", "weekly"])
    weekdays = serializers.ListField(
        source="window.days", child=serializers.IntegerField(), help_text="weekly: Monday 0 to Sunday 6"
    )
    start_time = serializers.TimeField(source="window.start_time", allow_null=True, help_text="weekly: UTC")
    duration_minutes = serializers.IntegerField(source="window.duration_minutes", allow_null=True)
    is_open = serializers.BooleanField(help_text="open now (else: its next occurrence is to come)")
    starts_at = serializers.DateTimeField(help_text="the occurrence open now, or the next one")
    ends_at = serializers.DateTimeField()
    created_by = serializers.CharField(source="window.created_by")


class MaintenanceApi(OpsApi):
    @extend_schema(
        operation_id="maintenance_list",
        parameters=[MaintenanceQuery],
        responses={200: MaintenanceWindowSerializer(many=True), **errors_documented(400)},
    )
    def get(self, request):
        query = params.validated(MaintenanceQuery, request.query_params).validated_data
        hours = query.get("within_hours")
        rows = maintenance_windows_listed(now=timezone.now(), within=timedelta(hours=hours) if hours else None)
        return Response(MaintenanceWindowSerializer(rows, many=True).data)
