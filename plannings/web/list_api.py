"""``GET /api/v1/admin/ops/plannings``: the catalog with its refresh state, filtered as the bulk action's
``filter`` (one selector, ``plannings_matching``), paged as every list (the kit's ``paging``): ``?limit=&cursor=``,
answered as ``{"results": [...], "next": url|null}``."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from opsportal.api import paging
from opsportal.api.base import OpsApi
from opsportal.api.paging import CursorPaging, Key
from opsportal.api.params import FlagField, validated
from opsportal.api.schema import errors_documented
from plannings import policy, selectors
from plannings.web.action_shapes import PlanningRowSerializer

# In full id order (the primary key): a keyset over the primary key's index.
PLANNINGS_PAGING = CursorPaging(Key("pk", descending=False))


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
        parameters=[PlanningsQuery, *paging.PARAMETERS],
        responses={200: paging.page_serializer(PlanningRowSerializer, name="PlanningsPage"), **errors_documented(400)},
        description="The plannings in full id order, with their refresh state and queue row, filtered as the "
        "bulk action's `filter` (every filter given must hold), a page at a time: `results`, and `next` (also a "
        "`Link: <...>; rel=next` header), the next page's URL, null on the last.",
    )
    def get(self, request):
        query = validated(PlanningsQuery, request.query_params).validated_data
        filters = {key: query[key] for key in selectors.PLANNING_FILTERS if key in query}
        listed = selectors.plannings_listed(filters=filters, now=timezone.now())
        rows, next_url = PLANNINGS_PAGING.page(request, listed)
        return PLANNINGS_PAGING.response(PlanningRowSerializer([_row(p) for p in rows], many=True).data, next_url)
