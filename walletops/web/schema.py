"""OpenAPI pieces drf-spectacular cannot infer: the Bearer scheme and the query fields' types."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "walletops.web.auth.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "a wallet ops API token (wo_…)"}


class _StringField(OpenApiSerializerFieldExtension):
    def map_serializer_field(self, auto_schema, direction):
        return build_basic_type(OpenApiTypes.STR)


class FlagFieldSchema(_StringField):
    target_class = "walletops.web.params.FlagField"

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]}


class EnvFieldSchema(_StringField):
    target_class = "walletops.web.params.EnvField"


class MomentFieldSchema(_StringField):
    target_class = "walletops.web.params.MomentField"

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "description": "ISO-8601, or a relative age: 30s, 15m, 2h, 1d"}
