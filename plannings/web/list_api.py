"""``GET /api/v1/admin/ops/plannings``: the catalog with its refresh state, filtered as the bulk action's
``filter`` (one selector, ``plannings_matching``), paged with a cursor: ``?limit=&cursor=``, answered as
``{"results": [...], "next": url|null}``."""

from __future__ import annotations

import base64
import binascii

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from opsportal.api.base import OpsApi
from opsportal.api.errors import InvalidParam
from opsportal.api.params import FlagField, validated
from opsportal.api.schema import errors_documented
from plannings import policy, selectors
from plannings.web.action_shapes import PlanningRowSerializer

MAX_LIMIT = 1000


class PlanningsQuery(serializers.Serializer):
    host = serializers.CharField(required=False, max_length=255, help_text="the school slug")
    disabled = FlagField(required=False)
    failure = serializers.CharField(
        required=False, max_length=64, help_text=f"a last failure as the lists name it ('{policy.ANY_FAILURE}': any)"
    )
    stale = serializers.ChoiceField(
        required=False, choices=list(selectors.STALE_CHOICES), help_text="yes: stale or missing; due: due for backfill"
    )
    queued = FlagField(required=False)
    ready = FlagField(required=False)
    locked = FlagField(required=False)
    search = serializers.CharField(required=False, max_length=255, help_text="in the full id or the title")
    limit = serializers.IntegerField(required=False, default=100, min_value=1, max_value=MAX_LIMIT)
    cursor = serializers.CharField(required=False, max_length=2000, help_text="the previous page's `next` carries it")


class PlanningsPageSerializer(serializers.Serializer):
    results = PlanningRowSerializer(many=True)
    next = serializers.URLField(allow_null=True, help_text="the next page; null on the last")


def _cursor_encode(full_id: str) -> str:
    return base64.urlsafe_b64encode(full_id.encode()).decode().rstrip("=")


def _cursor_decode(cursor: str) -> str:
    try:
        return base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidParam("cursor", "not a cursor this endpoint gave") from None


def _row(planning) -> dict:
    # A missing reverse one-to-one raises an AttributeError: none. Joined, so no query either way.
    state, queued = getattr(planning, "refresh_state", None), getattr(planning, "refresh_queue", None)
    return {
        "full_id": planning.full_id,
        "title": planning.title,
        "planning_id": planning.planning_id,
        "disabled_until": state.disabled_until if state else None,
        "consecutive_failures": state.consecutive_failures if state else 0,
        "last_failure": policy.failure_value(state.last_failure_kind, state.last_error) if state else None,
        "last_success_at": state.last_success_at if state else None,
        "backup_updated_at": planning.backup_updated_at,
        "queue": queued,
    }


class PlanningsListApi(OpsApi):
    @extend_schema(
        operation_id="plannings_list",
        parameters=[PlanningsQuery],
        responses={200: PlanningsPageSerializer, **errors_documented(400)},
        description="The plannings in full id order, with their refresh state and queue row, filtered as "
        "the bulk action's `filter` (every filter given must hold). Paged: follow `next` (null on the last page).",
    )
    def get(self, request):
        query = validated(PlanningsQuery, request.query_params).validated_data
        filters = {key: query[key] for key in selectors.PLANNING_FILTERS if key in query}
        rows = selectors.plannings_listed(filters=filters, now=timezone.now())
        if "cursor" in query:
            rows = rows.filter(full_id__gt=_cursor_decode(query["cursor"]))
        limit = query["limit"]
        page = list(rows[: limit + 1])
        next_url = None
        if len(page) > limit:
            page = page[:limit]
            params = request.query_params.copy()
            params["cursor"] = _cursor_encode(page[-1].full_id)
            next_url = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
        return Response({"results": PlanningRowSerializer([_row(p) for p in page], many=True).data, "next": next_url})
