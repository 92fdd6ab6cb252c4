"""Deploys over REST: the Kamal hook's events in (``deploys:write``), the timeline and drift out (``read``)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from opsportal.api.base import OpsApi
from opsportal.api.errors import InvalidParam
from opsportal.api.params import MomentField, validated
from opsportal.api.schema import errors_documented
from walletops.deploys import drift, reading, services, timeline
from walletops.deploys.formats import HOOK_VARIABLES, HOOKS, HookEventInvalid, hook_event_parse
from walletops.tokens import SCOPE_DEPLOYS_WRITE


class HookEventBody(serializers.Serializer):
    hook = serializers.ChoiceField(choices=list(HOOKS), help_text="the hook's file name, e.g. post-deploy")
    variables = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=4096),
        help_text=f"the hook's KAMAL_* variables ({', '.join(HOOK_VARIABLES)}); any other key is ignored",
    )


class HookEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    hook = serializers.CharField()
    recorded_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField()
    performer = serializers.CharField()
    service = serializers.CharField()
    destination = serializers.CharField()
    version = serializers.CharField()
    service_version = serializers.CharField()
    hosts = serializers.ListField(child=serializers.CharField())
    roles = serializers.ListField(child=serializers.CharField())
    lock = serializers.BooleanField(allow_null=True)
    command = serializers.CharField()
    subcommand = serializers.CharField()
    runtime_seconds = serializers.IntegerField(allow_null=True)


class DeployEventsApi(OpsApi):
    required_scope = SCOPE_DEPLOYS_WRITE

    @extend_schema(
        operation_id="deploy_event_record",
        request=HookEventBody,
        responses={
            201: HookEventSerializer,
            200: HookEventSerializer,  # the same run posted again (a retried hook): the first row
            **errors_documented(400, 413),
        },
    )
    def post(self, request):
        body = validated(HookEventBody, request.data if isinstance(request.data, dict) else {})
        try:
            event = hook_event_parse(body.validated_data["hook"], body.validated_data["variables"])
        except HookEventInvalid as invalid:
            raise InvalidParam("variables", str(invalid)) from None
        row, created = services.hook_event_store(event, token_name=request.auth.name)
        return Response(
            HookEventSerializer(row).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class DeploysQuery(serializers.Serializer):
    destination = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=50,
        help_text="a Kamal destination (WALLETOPS_ENVS); empty for a destination-less app",
    )  # fmt: skip
    host = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    role = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    performer = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)
    since = MomentField(required=False, help_text="entries at or after this time")
    until = MomentField(required=False, help_text="entries before this time")
    cursor = serializers.CharField(
        required=False, max_length=500, help_text="where the next page starts: a page's next has it"
    )
    limit = serializers.IntegerField(required=False, default=50, min_value=1, max_value=timeline.MAX_LIMIT)

    def validate_destination(self, value):
        if value and value not in reading.destinations_known():
            raise serializers.ValidationError(f"one of {', '.join(reading.destinations_known())}, or empty")
        return value

    def validate_cursor(self, value):
        try:
            return timeline.Cursor.decode(value)
        except timeline.CursorInvalid as invalid:
            raise serializers.ValidationError(str(invalid)) from None


class TimelineEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    source = serializers.ChoiceField(
        choices=list(timeline.RANK),  # and the sources other parts add (set per instance below)
        help_text="audit: a host's Kamal audit line; hook: a hook's event; portal: the portal's own action; "
        "alert: an alert that fired or resolved",
    )
    id = serializers.IntegerField()
    kind = serializers.CharField(help_text="audit: booted, stopped…, other; hook: the hook; portal: the action")
    subject = serializers.CharField()
    host = serializers.CharField()
    role = serializers.CharField()
    performer = serializers.CharField()
    version = serializers.CharField()
    text = serializers.CharField(allow_blank=True)
    detail = serializers.CharField(allow_blank=True)
    hosts = serializers.ListField(child=serializers.CharField(), required=False)
    roles = serializers.ListField(child=serializers.CharField(), required=False)
    lock = serializers.BooleanField(allow_null=True, required=False)
    runtime_seconds = serializers.IntegerField(allow_null=True, required=False)
    rule = serializers.CharField(required=False, help_text="alert: the rule's name")
    target = serializers.CharField(required=False, help_text="alert: what the rule watched")
    state = serializers.CharField(required=False, help_text="alert: fired, resolved or gone (no longer observed)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The alerts register their source when the apps are ready, after this module may have been imported.
        self.fields["source"].choices = timeline.sources_known()


class LockSerializer(serializers.Serializer):
    host = serializers.CharField()
    destination = serializers.CharField()
    holder = serializers.CharField()
    locked_at = serializers.DateTimeField(allow_null=True)
    age_seconds = serializers.IntegerField(allow_null=True)
    version = serializers.CharField()
    message = serializers.CharField(allow_blank=True)
    problem = serializers.CharField(allow_blank=True)


class DeploySerializer(serializers.Serializer):
    version = serializers.CharField()
    performer = serializers.CharField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField()
    hosts = serializers.ListField(child=serializers.CharField())
    roles = serializers.ListField(child=serializers.CharField())
    runtime_seconds = serializers.IntegerField(allow_null=True)


class DeploysPageSerializer(serializers.Serializer):
    results = TimelineEntrySerializer(many=True, help_text="newest first")
    next = serializers.URLField(allow_null=True, help_text="the next (older) page; null on the last")
    locks = LockSerializer(many=True, help_text="Kamal deploy locks held now (first page only)")
    deploys = DeploySerializer(many=True, help_text="the latest deploys (first page only)")


class DeploysApi(OpsApi):
    @extend_schema(
        operation_id="deploys_list",
        parameters=[DeploysQuery],
        responses={200: DeploysPageSerializer, **errors_documented(400)},
    )
    def get(self, request):
        query = validated(DeploysQuery, request.query_params).validated_data
        report = timeline.deploys_report(
            timeline.Filters(
                service=settings.WALLETOPS_SERVICE, destination=query["destination"], host=query["host"],
                role=query["role"], performer=query["performer"], since=query.get("since"), until=query.get("until"),
            ),
            cursor=query.get("cursor"), limit=query["limit"],
        )  # fmt: skip
        next_url = None
        if report["cursor"]:
            following = request.query_params.copy()
            following["cursor"] = report["cursor"]
            next_url = request.build_absolute_uri(f"{request.path}?{following.urlencode()}")
        response = Response(DeploysPageSerializer({**report, "next": next_url}).data)
        if next_url:  # as the kit's lists (opsportal.api.paging)
            response["Link"] = f'<{next_url}>; rel="next"'
        return response


class DriftQuery(serializers.Serializer):
    destination = serializers.CharField(required=False, allow_blank=True, default="", max_length=50)

    def validate_destination(self, value):
        return DeploysQuery().validate_destination(value)


class RoleDriftSerializer(serializers.Serializer):
    role = serializers.CharField()
    hosts = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), help_text="engine host -> versions running"
    )
    problems = serializers.ListField(child=serializers.CharField())
    rollback_candidates = serializers.ListField(
        child=serializers.CharField(), help_text="other versions whose containers are on every host of the role"
    )
    drifting = serializers.BooleanField()


class DriftSerializer(serializers.Serializer):
    destination = serializers.CharField()
    newest_version = serializers.CharField(help_text="the latest deploy's version (the hosts' audit lines)")
    roles = RoleDriftSerializer(many=True)
    drifting = serializers.BooleanField()
    missing_hosts = serializers.ListField(child=serializers.CharField(), help_text="engines that did not answer")


class DeploysDriftApi(OpsApi):
    @extend_schema(
        operation_id="deploys_drift",
        parameters=[DriftQuery],
        responses={200: DriftSerializer, **errors_documented(400)},
    )
    def get(self, request):
        query = validated(DriftQuery, request.query_params).validated_data
        return Response(drift.drift_report(service=settings.WALLETOPS_SERVICE, destination=query["destination"]))
