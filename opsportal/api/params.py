"""Parameter helpers of the API kit: fields with the documented spellings, and ``validated`` (400
``invalid_param`` naming the first bad parameter)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from rest_framework import serializers

from opsportal.api.errors import InvalidParam

TRUE, FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
RELATIVE = re.compile(r"^(\d{1,6})([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class FlagField(serializers.Field):
    """Exactly the documented spellings (the spec: anything else is 400), so the schema's enum holds."""

    def to_internal_value(self, data):
        value = str(data)
        if value in TRUE:
            return True
        if value in FALSE:
            return False
        raise serializers.ValidationError("expected true/false/1/0/yes/no")


class MomentField(serializers.Field):
    """ISO-8601 (a naive time is UTC) or a relative age: ``30s``, ``15m``, ``2h``, ``1d``."""

    def to_internal_value(self, data):
        text = str(data).strip()
        relative = RELATIVE.match(text)
        if not relative:
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise serializers.ValidationError("expected ISO-8601 or a relative age like 30s, 15m, 2h, 1d") from None
        try:
            if relative:  # 999999d is before year 1
                return timezone.now() - timedelta(**{UNITS[relative.group(2)]: int(relative.group(1))})
            # In UTC from here on, so comparing it or handing it to Docker cannot overflow later (year 1 at +14:00).
            return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
        except OverflowError:
            raise serializers.ValidationError("out of range: in UTC, a time must fall within years 1 to 9999") from None


def validated(serializer_class, data, **kwargs):
    """Validate or raise ``invalid_param`` naming the first bad parameter."""
    known = set(serializer_class().fields)
    serializer = serializer_class(data={k: v for k, v in data.items() if k in known}, **kwargs)
    if not serializer.is_valid():
        param, problems = next(iter(serializer.errors.items()))
        raise InvalidParam(param, str(problems[0]) if isinstance(problems, list) else str(problems))
    return serializer
