from rest_framework.response import Response
from rest_framework.views import APIView

from plannings.auth import HasOpsToken
from plannings.health import plannings_health


class PlanningsHealthApi(APIView):
    """``GET /api/ops/plannings``: the refresh system's health, for monitors."""

    authentication_classes: list = []
    permission_classes = [HasOpsToken]

    def get(self, request):
        return Response(plannings_health())
