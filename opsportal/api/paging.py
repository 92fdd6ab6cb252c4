"""Cursor paging for the API's lists: ``?limit=`` and an opaque ``?cursor=``, never OFFSET.

A list is read in a fixed order of keys that ends with a unique one (``id``); a page's cursor holds
the last row's keys, signed so a client cannot forge one (a bad cursor is 400 ``invalid_param``), and
the next page is the rows after it in that order (keyset: ``(a, b) < (A, B)`` written as
``a < A OR (a = A AND b < B)``, which an index on the keys serves). The answer is
``{"results": [...], "next": "<absolute URL>" | null}`` with the same URL in a ``Link: <…>; rel="next"``
header. A row inserted before the cursor's position never shifts a page as OFFSET would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from operator import or_

from django.core import signing
from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.response import Response

from opsportal.api.errors import InvalidParam

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_SALT = "opsportal.api.paging"


@dataclass(frozen=True)
class Key:
    """One key of a list's order: a field (or an annotation) and its direction."""

    field: str
    descending: bool = True


PARAMETERS = [
    OpenApiParameter(
        "limit", int, description=f"rows per page, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})", required=False
    ),
    OpenApiParameter("cursor", str, description="where the next page starts: a page's `next` has it", required=False),
]


def page_serializer(item_serializer, *, name: str) -> type[serializers.Serializer]:
    """The OpenAPI shape of one page of ``item_serializer`` rows."""
    return type(
        name,
        (serializers.Serializer,),
        {
            "results": item_serializer(many=True),
            "next": serializers.URLField(allow_null=True, help_text="the next page; null on the last"),
        },
    )


def _encode(value):
    return {"t": value.isoformat()} if isinstance(value, datetime) else {"v": value}


def _decode(value):
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError("not a key")
    if "t" in value:
        return datetime.fromisoformat(value["t"])
    if "v" in value and isinstance(value["v"], (bool, int, str)):
        return value["v"]
    raise ValueError("not a key")


class CursorPaging:
    def __init__(self, *keys: Key):
        if not keys or keys[-1].field not in ("id", "pk"):
            raise ValueError("the last key must be unique: id")
        self.keys = keys

    def order_by(self) -> list[str]:
        return [f"-{key.field}" if key.descending else key.field for key in self.keys]

    def _limit(self, request) -> int:
        raw = request.query_params.get("limit")
        if raw is None:
            return DEFAULT_LIMIT
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            raise InvalidParam("limit", f"a whole number from 1 to {MAX_LIMIT}")
        return int(raw)

    def _after(self, request) -> Q | None:
        raw = request.query_params.get("cursor")
        if raw is None:
            return None
        try:
            values = [_decode(value) for value in signing.loads(raw, salt=_SALT)]
        except (signing.BadSignature, ValueError, TypeError):
            raise InvalidParam("cursor", "not a cursor this list gave (take it from a page's next)") from None
        if len(values) != len(self.keys):
            raise InvalidParam("cursor", "not a cursor this list gave (take it from a page's next)")
        clauses = []
        for i, key in enumerate(self.keys):
            equal = {self.keys[j].field: values[j] for j in range(i)}
            beyond = {f"{key.field}__{'lt' if key.descending else 'gt'}": values[i]}
            clauses.append(Q(**equal, **beyond))
        return reduce(or_, clauses)

    def page(self, request, rows) -> tuple[list, str | None]:
        """One page of ``rows`` (a queryset, unordered or not) and the next page's URL (None on the last)."""
        limit = self._limit(request)
        after = self._after(request)
        if after is not None:
            rows = rows.filter(after)
        found = list(rows.order_by(*self.order_by())[: limit + 1])
        page = found[:limit]
        if len(found) <= limit:
            return page, None
        last = page[-1]
        cursor = signing.dumps([_encode(getattr(last, key.field)) for key in self.keys], salt=_SALT, compress=True)
        query = request.query_params.copy()
        query["cursor"] = cursor
        return page, request.build_absolute_uri(f"{request.path}?{query.urlencode()}")

    @staticmethod
    def response(results: list, next_url: str | None) -> Response:
        response = Response({"results": results, "next": next_url})
        if next_url:
            response["Link"] = f'<{next_url}>; rel="next"'
        return response
