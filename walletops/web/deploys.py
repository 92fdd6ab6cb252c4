"""Deploys over REST: the Kamal hook's events in (``deploys:write``), the timeline and drift out (``read``)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from opsportal.api.base import OpsApi
from opsportal.api.errors import InvalidParam
from opsportal.api.params import validated
from opsportal.api.schema import errors_documented
from walletops.deploys import services
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
