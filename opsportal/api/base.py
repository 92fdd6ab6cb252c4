"""``OpsApi``, the base view of every ``/api/v1/`` endpoint: Bearer tokens, a scope check, a bounded JSON
parser and a content negotiation that names a bad ``?format=``."""

from __future__ import annotations

from django.conf import settings
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from opsportal.api import idempotency
from opsportal.api.auth import BearerTokenAuthentication, HasScope
from opsportal.api.errors import InvalidParam, RequestTooLarge
from opsportal.api.scopes import READ
from opsportal.lib.jsonlimits import JSONRefused, json_loads_bounded

# Where the ops endpoints live (``opsportal.urls`` and the apps' url modules).
OPS = "api/v1/admin/ops/"


class OpsJSONParser(JSONParser):
    """DRF's JSON parser, bounded: a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is 413, one nested too deeply 400.

    DRF reads the request stream itself, so Django's own size check never runs for
    JSON bodies; and ``json`` raises ``RecursionError`` (not ``ValueError``) on
    100,000 ``[``, which DRF would let through as a 500 (``opsportal.lib.jsonlimits``).
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise RequestTooLarge(f"body: longer than {limit} bytes")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json_loads_bounded(raw.decode(encoding), parse_constant=self._refuse_constant)
        except JSONRefused as refused:
            raise InvalidParam("body", f"JSON {refused}") from None
        except (ValueError, LookupError) as exc:  # malformed JSON, bytes that are not text, an unknown charset
            raise InvalidParam("body", f"JSON parse error - {exc}") from None

    @staticmethod
    def _refuse_constant(name: str):
        # NaN and Infinity are not JSON (DRF's own parser refuses them too unless STRICT_JSON is off).
        raise ValueError(f"{name} is not valid JSON")


class OpsContentNegotiation(DefaultContentNegotiation):
    """An unknown ``?format=`` is 400 ``invalid_param`` naming it (DRF answers a bare 404)."""

    def filter_renderers(self, renderers, format):
        chosen = [renderer for renderer in renderers if renderer.format == format]
        if not chosen:
            raise InvalidParam("format", f"one of {', '.join(renderer.format for renderer in renderers)}")
        return chosen


class OpsApi(APIView):
    """An endpoint of the API: a Bearer token holding ``required_scope`` (``read`` unless the view says)."""

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [HasScope]
    required_scope = READ
    parser_classes = [OpsJSONParser]
    content_negotiation_class = OpsContentNegotiation
    # Errors: ``REST_FRAMEWORK["EXCEPTION_HANDLER"]``, the one shape of every /api/v1/ path (errors.py).
    idempotency_claim: idempotency.Claim | None = None

    # Every POST honours ``Idempotency-Key`` (idempotency.py): claimed once the caller is known and allowed
    # in, answered again from the stored outcome, released when the request ends in a server error.
    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method == "POST":
            self.idempotency_claim = idempotency.idempotency_claim(request)

    def handle_exception(self, exc):
        if isinstance(exc, idempotency.Replayed):
            response = Response(exc.body, status=exc.status_code)
            response[idempotency.REPLAYED_HEADER] = "true"
            return response
        return super().handle_exception(exc)

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        except BaseException:  # a bug: Django answers 500, and a retry may act
            if self.idempotency_claim is not None:
                idempotency.idempotency_release(self.idempotency_claim)
            raise

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if self.idempotency_claim is not None:
            claim, self.idempotency_claim = self.idempotency_claim, None
            idempotency.idempotency_finish(
                claim, status_code=response.status_code, body=getattr(response, "data", None)
            )
        return response
