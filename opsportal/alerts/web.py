"""``GET /api/v1/admin/ops/alerts``: the alerts, open first, each with its notifications' delivery and its
acknowledgement; ``GET /api/v1/admin/ops/maintenance``: the maintenance windows open now and to come;
``POST alerts/{id}/acknowledge|unacknowledge|mute|unmute`` and ``POST alert-channels/{id}/test``.

The API kit's Bearer tokens (``read``), error shape and parameter checks, like the other ops endpoints."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from opsportal.alerts.delivery import ChannelTestRefused, channel_test_send
from opsportal.alerts.models import Alert, Channel
from opsportal.alerts.selectors import alert_detail, alerts_listed, maintenance_windows_listed
from opsportal.alerts.services import (
    MUTE_PRESETS,
    AlertActionForbidden,
    AlertActionRefused,
    alert_acknowledge,
    alert_mute_preset,
    alert_unacknowledge,
    alert_unmute,
)
from opsportal.api import idempotency, paging, params
from opsportal.api.auth import HasToken
from opsportal.api.base import OpsApi
from opsportal.api.errors import OpsError
from opsportal.api.paging import CursorPaging, Key
from opsportal.api.schema import errors_documented
from opsportal.lib.actors import Actor


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


# --- Actions: acknowledge and take back, mute and unmute, a channel's test ------------------------
# Thin: the services (``opsportal.alerts.services``, ``delivery.channel_test_send``) decide whether the
# token may (its scope, its owner's permission) and record every attempt, refused ones included.


class AcknowledgeBody(serializers.Serializer):
    comment = serializers.CharField(required=False, default="", allow_blank=True, max_length=300)


class MuteBody(serializers.Serializer):
    duration = serializers.ChoiceField(
        choices=list(MUTE_PRESETS), help_text="1h, 4h, 24h, or resolved: until the alert resolves"
    )
    comment = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)


class MuteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    rule = serializers.CharField(source="rule.name", allow_null=True)
    target = serializers.CharField()
    until = serializers.DateTimeField()
    until_resolved = serializers.SerializerMethodField(
        help_text="lifted when the alert resolves, at the latest `until`"
    )
    reason = serializers.CharField()
    created_by = serializers.CharField()

    def get_until_resolved(self, mute) -> bool:
        return mute.alert_id is not None


class UnmutedSerializer(serializers.Serializer):
    lifted = serializers.IntegerField(help_text="how many mutes of this rule and target were lifted")


class ChannelTestSerializer(serializers.Serializer):
    channel = serializers.CharField(source="channel.name")
    status = serializers.ChoiceField(choices=["sent", "failed"])
    error = serializers.CharField(source="last_error", help_text="why the channel did not take it (URL masked)")
    sent_at = serializers.DateTimeField(allow_null=True)


# What ``Idempotency-Key`` (the kit's, on every POST) may answer besides: a malformed key (400), a retry
# while the first request still acts past the wait (409), a body too large to compare (413), the key
# reused for another request (422).
KEYED = (400, 409, 413, 422)


def _error(status_code: int, code: str, detail: str) -> OpsError:
    error = OpsError(detail)
    error.status_code, error.code = status_code, code
    return error


def _alert(pk: int) -> Alert:
    alert = alert_detail(pk=pk)
    if alert is None:
        raise _error(status.HTTP_404_NOT_FOUND, "not_found", f"no alert #{pk}")
    return alert


class _AlertActionApi(OpsApi):
    permission_classes = [HasToken]

    def act(self, request, alert: Alert):
        raise NotImplementedError

    def post(self, request, pk: int):
        alert = _alert(pk)
        try:
            return Response(self.act(request, alert))
        except AlertActionForbidden as refused:
            raise _error(status.HTTP_403_FORBIDDEN, "forbidden", refused.detail) from None
        except AlertActionRefused as refused:
            raise _error(status.HTTP_409_CONFLICT, "conflict", str(refused)) from None


ACK_NEEDS = " Needs the `alerts:mute` scope, and its owner `alerts.acknowledge_alert` (403, on the record)."
MUTE_NEEDS = " Needs the `alerts:mute` scope, and its owner `alerts.{}_mute` (403, on the record)."


class AlertAcknowledgeApi(_AlertActionApi):
    @extend_schema(
        operation_id="alert_acknowledge",
        request=AcknowledgeBody,
        parameters=[idempotency.PARAMETER],
        responses={200: AlertSerializer, **errors_documented(*KEYED, 400, 404, 409, 413)},
        description="Acknowledge an open alert: its reminders stop until it resolves or the acknowledgement is "
        "taken back. 409 when it is closed or acknowledged already." + ACK_NEEDS,
    )
    def post(self, request, pk: int):
        return super().post(request, pk)

    def act(self, request, alert):
        body = params.validated(AcknowledgeBody, request.data if isinstance(request.data, dict) else {})
        comment = body.validated_data["comment"]
        alert = alert_acknowledge(actor=Actor.api(request.auth), alert=alert, comment=comment)
        return AlertSerializer(alert_detail(pk=alert.pk)).data


class AlertUnacknowledgeApi(_AlertActionApi):
    @extend_schema(
        operation_id="alert_unacknowledge",
        request=None,
        parameters=[idempotency.PARAMETER],
        responses={200: AlertSerializer, **errors_documented(*KEYED, 404, 409)},
        description="Take an acknowledgement back: reminders resume. 409 when it is not acknowledged." + ACK_NEEDS,
    )
    def post(self, request, pk: int):
        return super().post(request, pk)

    def act(self, request, alert):
        alert = alert_unacknowledge(actor=Actor.api(request.auth), alert=alert)
        return AlertSerializer(alert_detail(pk=alert.pk)).data


class AlertMuteApi(_AlertActionApi):
    @extend_schema(
        operation_id="alert_mute",
        request=MuteBody,
        parameters=[idempotency.PARAMETER],
        responses={200: MuteSerializer, **errors_documented(*KEYED, 400, 404, 409, 413)},
        description="Mute the alert's rule for its target, for a preset duration or until it resolves "
        "(409 when it is closed already)." + MUTE_NEEDS.format("add"),
    )
    def post(self, request, pk: int):
        return super().post(request, pk)

    def act(self, request, alert):
        body = params.validated(MuteBody, request.data if isinstance(request.data, dict) else {}).validated_data
        mute = alert_mute_preset(
            actor=Actor.api(request.auth), alert=alert, preset=body["duration"], comment=body["comment"]
        )
        return MuteSerializer(mute).data


class AlertUnmuteApi(_AlertActionApi):
    @extend_schema(
        operation_id="alert_unmute",
        request=None,
        parameters=[idempotency.PARAMETER],
        responses={200: UnmutedSerializer, **errors_documented(*KEYED, 404, 409)},
        description="Lift the mutes of the alert's rule for its target (each on the record); broader mutes "
        "are the Mutes page's. 409 when none is in force." + MUTE_NEEDS.format("delete"),
    )
    def post(self, request, pk: int):
        return super().post(request, pk)

    def act(self, request, alert):
        return {"lifted": alert_unmute(actor=Actor.api(request.auth), alert=alert)}


class ChannelTestApi(OpsApi):
    permission_classes = [HasToken]

    @extend_schema(
        operation_id="alert_channel_test",
        request=None,
        parameters=[idempotency.PARAMETER],
        responses={200: ChannelTestSerializer, **errors_documented(*KEYED, 404)},
        description="Send the channel a test message now, once (a failure is answered, not retried: 200 with "
        "`status` failed and the channel's error). Needs the `alerts:test` scope, and its owner "
        "`alerts.change_channel` (403, on the record).",
    )
    def post(self, request, pk: int):
        channel = Channel.objects.filter(pk=pk).first()
        if channel is None:
            raise _error(status.HTTP_404_NOT_FOUND, "not_found", f"no channel #{pk}")
        try:
            row = channel_test_send(actor=Actor.api(request.auth), channel=channel)
        except ChannelTestRefused as refused:
            raise _error(status.HTTP_403_FORBIDDEN, "forbidden", refused.detail) from None
        return Response(ChannelTestSerializer(row).data)
