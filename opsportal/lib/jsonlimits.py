"""JSON from outside the portal, bounded: a size cap and a nesting cap, refused with a clear message.

``json.loads`` raises ``RecursionError`` (not ``ValueError``) on ``'[' * 100000``: every form or
endpoint that took it as it is answered 500. And a value nested a few hundred levels deep parses,
but then fails wherever it is written out again (``json.dumps``, a template). Everything that takes
JSON from a person or a client goes through ``json_loads_bounded`` (the admin's JSON fields through
``BoundedJSONField``, the API's bodies through ``opsportal.api.base.OpsJSONParser``).
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput, JSONString

# Deeper than any value the portal takes (rule thresholds are one level, restart bodies one).
MAX_DEPTH = 32
# A form's JSON field: thresholds and the like are a few hundred bytes.
FORM_MAX_BYTES = 64 * 1024


class JSONRefused(ValueError):
    """Valid or not, JSON the portal will not parse: too long or nested too deeply."""


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and objects more than ``limit`` levels deep (``[]`` is one level).

    Iterative: a value that reached us is measured without recursion of our own.
    """
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def json_loads_bounded(
    text: str | bytes, *, max_bytes: int | None = None, max_depth: int = MAX_DEPTH, **loads_options
) -> Any:
    """``json.loads(text)``, or ``JSONRefused`` when ``text`` is over ``max_bytes`` or nested over
    ``max_depth`` levels; malformed JSON raises ``json.JSONDecodeError`` as usual (both are ValueErrors)."""
    size = len(text.encode() if isinstance(text, str) else text)
    if max_bytes is not None and size > max_bytes:
        raise JSONRefused(f"longer than {max_bytes} bytes")
    try:
        value = json.loads(text, **loads_options)
    except RecursionError:  # the C scanner gives up near the interpreter's recursion limit, cleanly
        raise JSONRefused(f"nested more than {max_depth} levels deep") from None
    if json_depth_exceeds(value, max_depth):
        raise JSONRefused(f"nested more than {max_depth} levels deep")
    return value


class BoundedJSONField(forms.JSONField):
    """Django's form ``JSONField`` through ``json_loads_bounded``: a form error, never a 500.

    Django parses twice, to clean the value and to show it again on an invalid form
    (``bound_data``); both are bounded.
    """

    max_bytes = FORM_MAX_BYTES

    def to_python(self, value):
        if self.disabled:
            return value
        if value in self.empty_values:
            return None
        if isinstance(value, list | dict | int | float | JSONString):
            return value
        try:
            converted = json_loads_bounded(value, max_bytes=self.max_bytes, cls=self.decoder)
        except JSONRefused as refused:
            raise ValidationError("Refused: %(problem)s.", code="invalid", params={"problem": refused}) from None
        except json.JSONDecodeError:
            raise ValidationError(self.error_messages["invalid"], code="invalid", params={"value": value}) from None
        return JSONString(converted) if isinstance(converted, str) else converted

    def bound_data(self, data, initial):
        if self.disabled:
            return initial
        if data is None:
            return None
        try:
            return json_loads_bounded(data, max_bytes=self.max_bytes, cls=self.decoder)
        except ValueError:
            return InvalidJSONInput(data)
