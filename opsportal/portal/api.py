"""The project's REST endpoints: ``/queues`` and ``/metrics`` read both apps, and ``/audit`` is the project's
record (``opsportal.audit``), so they are the portal's, on the API kit (``opsportal.api``).

They keep the OpenAPI operation ids and paths they had in wallet ops (the documented contract).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from opsportal import queues
from opsportal.api.auth import BearerTokenAuthentication
from opsportal.api.base import OpsApi
from opsportal.api.errors import Forbidden
from opsportal.api.models import ApiToken
from opsportal.api.params import FlagField, MomentField, validated
from opsportal.api.schema import ERROR, errors_documented
from opsportal.api.scopes import READ
from opsportal.audit.selectors import audit_events_list
from opsportal.portal.metrics import metrics_text


class QueuesQuery(serializers.Serializer):
    partial = FlagField(required=False, default=False)


AUDIT_MAX_LIMIT = 1000
BIGINT_MAX = 2**63 - 1


class AuditQuery(serializers.Serializer):
    since = MomentField(required=False, help_text="events at or after this time")
    until = MomentField(required=False, help_text="events before this time")
    action = serializers.CharField(
        required=False, allow_blank=True, max_length=64,
        help_text="an action name (container.restart), or a prefix ending in a dot (jobs.)",
    )  # fmt: skip
    actor = serializers.CharField(
        required=False, allow_blank=True, max_length=150, help_text="exactly: a user name, or a token's owner"
    )
    via = serializers.ChoiceField(choices=["portal", "api", "cli"], required=False)
    outcome = serializers.ChoiceField(choices=["ok", "refused", "failed"], required=False)
    limit = serializers.IntegerField(required=False, default=100, min_value=1, max_value=AUDIT_MAX_LIMIT)
    before = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=BIGINT_MAX,
        help_text="only events older than this id: a page's next_before",
    )

    def validate(self, attrs):
        since, until = attrs.get("since"), attrs.get("until")
        if since and until and since > until:
            raise serializers.ValidationError({"since": "is after until"})
        return attrs


class QueueSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["worker", "runner"])
    depth = serializers.IntegerField(allow_null=True)
    processed_per_sec = serializers.FloatField(allow_null=True)
    failures_last_hour = serializers.IntegerField(allow_null=True)


class QueueErrorSerializer(serializers.Serializer):
    queue = serializers.CharField()
    job_id = serializers.CharField()
    error = serializers.CharField()
    count = serializers.IntegerField()
    timestamp = serializers.DateTimeField()


class QueuesSerializer(serializers.Serializer):
    queues = QueueSerializer(many=True)
    errors = QueueErrorSerializer(many=True)
    missing = serializers.ListField(child=serializers.CharField(), required=False, help_text="with partial=true")


class AuditEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    actor = serializers.CharField(help_text="the user, or the token's owner (a machine token: its name)")
    via = serializers.ChoiceField(choices=["portal", "api", "cli"])
    token_name = serializers.CharField(help_text="the API token used; empty otherwise")
    action = serializers.CharField(help_text="e.g. container.restart, jobs.pause, token.revoke")
    target_type = serializers.CharField()
    targets = serializers.ListField(child=serializers.CharField(), help_text="the objects' ids (the first 100)")
    target_count = serializers.IntegerField()
    changed = serializers.IntegerField(allow_null=True, help_text="how many objects the action changed")
    outcome = serializers.ChoiceField(choices=["ok", "refused", "failed"])
    detail = serializers.CharField()


class AuditPageSerializer(serializers.Serializer):
    events = AuditEventSerializer(many=True, help_text="newest first")
    next_before = serializers.IntegerField(
        allow_null=True, help_text="pass as before= for the next (older) page; null on the last page"
    )


class QueuesApi(OpsApi):
    @extend_schema(
        operation_id="queues",
        parameters=[QueuesQuery],
        responses={200: QueuesSerializer, **errors_documented(400, 503)},
    )
    def get(self, request):
        query = validated(QueuesQuery, request.query_params)
        return Response(queues.queues_report(partial=query.validated_data["partial"]))


class MetricsView(APIView):
    """``/metrics`` for Prometheus: a Bearer token with ``read``, or a scrape from an allowed address."""

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = []

    @extend_schema(
        operation_id="metrics",
        responses={200: OpenApiResponse(description="Prometheus text format 0.0.4"), 401: ERROR, 403: ERROR},
    )
    def get(self, request):
        token = request.auth
        allowed_ip = request.META.get("REMOTE_ADDR") in settings.OPSPORTAL_METRICS_ALLOWED_IPS
        if not (allowed_ip or (isinstance(token, ApiToken) and READ in token.scope_list)):
            if token is None:  # no credentials at all: 401 with the Bearer challenge, as on every other endpoint
                raise NotAuthenticated("scrape from an allowed address or with a read token")
            raise Forbidden("scrape from an allowed address or with a read token")
        return HttpResponse(metrics_text(), content_type="text/plain; version=0.0.4; charset=utf-8")


class AuditApi(OpsApi):
    @extend_schema(
        operation_id="audit_list",
        parameters=[AuditQuery],
        responses={200: AuditPageSerializer, **errors_documented(400)},
        description="The audit trail of every operator action (portal, API, command line), newest first. "
        "Page with `before`: each page's `next_before` (null on the last).",
    )
    def get(self, request):
        query = validated(AuditQuery, request.query_params).validated_data
        limit = query["limit"]
        filters = {key: query.get(key) for key in ("before", "since", "until", "action", "actor", "via", "outcome")}
        events = audit_events_list(limit=limit + 1, **{k: v for k, v in filters.items() if v is not None})
        page = events[:limit]
        return Response(
            {
                "events": [_audit_json(event) for event in page],
                "next_before": page[-1].id if len(events) > limit else None,
            }
        )


def _audit_json(event) -> dict:
    return {
        "id": event.id,
        "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
        "actor": event.actor,
        "via": event.via,
        "token_name": event.token_name,
        "action": event.action,
        "target_type": event.target_type,
        "targets": event.targets,
        "target_count": event.target_count,
        "changed": event.changed,
        "outcome": event.outcome,
        "detail": event.detail,
    }
