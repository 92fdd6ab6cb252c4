from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from plannings.auth import HasOpsToken
from plannings.health import plannings_health
from plannings.serializers import NotFoundSerializer, PlanningsHealthSerializer


class PlanningsHealthApi(APIView):
    """``GET /api/ops/plannings``: the refresh system's health, for monitors."""

    authentication_classes: list = []
    permission_classes = [HasOpsToken]

    @extend_schema(
        operation_id="plannings_health",
        auth=[{"opsToken": []}, {}],
        responses={
            200: PlanningsHealthSerializer,
            404: OpenApiResponse(NotFoundSerializer, description="refused: missing or wrong x-ops-token"),
        },
    )
    def get(self, request):
        return Response(plannings_health())
