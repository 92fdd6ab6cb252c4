"""``GET /api/v1/admin/ops/alerts``: the alerts, open first, each with its notifications' delivery.

Wallet ops' Bearer tokens (``read``), error shape and parameter checks, like the other ops endpoints."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from opsportal.alerts.selectors import alerts_list
from walletops.web import params
from walletops.web.api import OpsApi, errors_documented


class AlertsQuery(serializers.Serializer):
    open = params.FlagField(required=False, default=False, help_text="only open alerts (pending, alerting)")
    limit = serializers.IntegerField(required=False, default=100, min_value=1, max_value=1000)


class AlertNotificationSerializer(serializers.Serializer):
    kind = serializers.CharField()
    channel = serializers.CharField(source="channel.name")
    status = serializers.ChoiceField(choices=["pending", "sent", "failed", "muted"])
    attempts = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()


class AlertSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    rule = serializers.CharField(source="rule.name")
    rule_kind = serializers.CharField(source="rule.kind")
    target = serializers.CharField()
    state = serializers.ChoiceField(choices=["ok", "pending", "alerting", "resolved"])
    flapping = serializers.BooleanField()
    held = serializers.BooleanField(help_text="held back by a deploy in progress")
    message = serializers.CharField()
    started_at = serializers.DateTimeField()
    fired_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    last_evaluated_at = serializers.DateTimeField()
    notifications = AlertNotificationSerializer(many=True, source="notifications.all")


class AlertsApi(OpsApi):
    @extend_schema(
        operation_id="alerts_list",
        parameters=[AlertsQuery],
        responses={200: AlertSerializer(many=True), **errors_documented(400)},
    )
    def get(self, request):
        query = params.validated(AlertsQuery, request.query_params).validated_data
        rows = alerts_list(open_only=query["open"], limit=query["limit"])
        return Response(AlertSerializer(rows, many=True).data)
