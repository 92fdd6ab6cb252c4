"""The API's error shape, for the OpenAPI schema (``/api/schema/``)."""

from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
