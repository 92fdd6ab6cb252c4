"""The cross-app REST endpoints: ``/queues`` and ``/metrics`` read both apps, so they are the portal's.

They keep wallet ops' authentication, error shape and OpenAPI operation ids (the documented contract).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from opsportal import queues
from opsportal.portal.metrics import metrics_text
from walletops.models import ApiToken
from walletops.web import params
from walletops.web import serializers as shapes
from walletops.web.api import ERROR, OpsApi, errors_documented
from walletops.web.auth import BearerTokenAuthentication
from walletops.web.errors import Forbidden, ops_exception_handler


class QueuesApi(OpsApi):
    @extend_schema(
        operation_id="queues",
        parameters=[params.QueuesQuery],
        responses={200: shapes.QueuesSerializer, **errors_documented(400, 503)},
    )
    def get(self, request):
        query = params.validated(params.QueuesQuery, request.query_params)
        return Response(queues.queues_report(partial=query.validated_data["partial"]))


class MetricsView(APIView):
    """``/metrics`` for Prometheus: a Bearer token with ``read``, or a scrape from an allowed address."""

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = []

    def get_exception_handler(self):
        return ops_exception_handler

    @extend_schema(
        operation_id="metrics",
        responses={200: OpenApiResponse(description="Prometheus text format 0.0.4"), 401: ERROR, 403: ERROR},
    )
    def get(self, request):
        token = request.auth
        allowed_ip = request.META.get("REMOTE_ADDR") in settings.OPSPORTAL_METRICS_ALLOWED_IPS
        if not (allowed_ip or (isinstance(token, ApiToken) and ApiToken.SCOPE_READ in token.scope_list)):
            if token is None:  # no credentials at all: 401 with the Bearer challenge, as on every other endpoint
                raise NotAuthenticated("scrape from an allowed address or with a read token")
            raise Forbidden("scrape from an allowed address or with a read token")
        return HttpResponse(metrics_text(), content_type="text/plain; version=0.0.4; charset=utf-8")
