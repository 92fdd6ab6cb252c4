"""OpenAPI pieces drf-spectacular cannot infer: the Bearer scheme, the kit's query fields' types, and the
error responses every endpoint documents (``errors_documented``)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from drf_spectacular.views import SpectacularAPIView
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from opsportal.api.serializers import ErrorSerializer

ERROR = OpenApiResponse(ErrorSerializer, description="the API's error shape")


def errors_documented(*statuses: int) -> dict:
    return {status: ERROR for status in (401, 403, *statuses)}


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "opsportal.api.auth.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "an opsportal API token (wo_…)"}


class StringFieldSchema(OpenApiSerializerFieldExtension):
    """A custom field read from a query string: a string in the schema (an app's fields too)."""

    def map_serializer_field(self, auto_schema, direction):
        return build_basic_type(OpenApiTypes.STR)


class FlagFieldSchema(StringFieldSchema):
    target_class = "opsportal.api.params.FlagField"

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]}


class MomentFieldSchema(StringFieldSchema):
    target_class = "opsportal.api.params.MomentField"

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "description": "ISO-8601, or a relative age: 30s, 15m, 2h, 1d"}


class SchemaApi(SpectacularAPIView):
    """``/api/schema/``: a refusal (a logged-out reader) is the API's JSON error shape, not a YAML document."""

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response) and response.status_code >= 400:
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)
