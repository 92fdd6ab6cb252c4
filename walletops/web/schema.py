"""OpenAPI pieces of wallet ops' own query fields (the kit's are in ``opsportal.api.schema``)."""

from opsportal.api.schema import StringFieldSchema


class EnvFieldSchema(StringFieldSchema):
    target_class = "walletops.web.params.EnvField"
