from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from plannings.health import health_report
from plannings.web.auth import HasOpsToken, plannings_exception_handler
from plannings.web.serializers import NotFoundSerializer, PlanningsHealthSerializer, health_json


class JsonAlways(BaseContentNegotiation):
    """JSON whatever ``?format=`` or ``Accept`` say, as upstream answers: a refusal never varies by them."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class PlanningsHealthApi(APIView):
    """``GET /api/ops/plannings``: the refresh system's health, for monitors."""

    authentication_classes: list = []
    permission_classes = [HasOpsToken]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JsonAlways
    http_method_names = ["get", "head"]  # no OPTIONS metadata; anything else is 405 once the token is accepted

    def get_exception_handler(self):
        return plannings_exception_handler

    @extend_schema(
        operation_id="plannings_health",
        auth=[{"opsToken": []}, {}],
        responses={
            200: PlanningsHealthSerializer,
            404: OpenApiResponse(NotFoundSerializer, description="refused: missing or wrong x-ops-token"),
        },
    )
    def get(self, request):
        return Response(health_json(health_report()))
