"""``Idempotency-Key`` on the API's POSTs: a retried request answers the first one's outcome and acts once.

The first request with a key claims it (a committed row, unique per caller and key) before it
acts, and stores its answer (status and body) when done. A retry with the same key, by the same
caller (token, or portal user) and for the same request (method, path, query and body: a SHA-256),
gets that answer, marked ``Idempotent-Replayed: true``; one arriving while the first still acts waits
for it (up to ``WAIT_SECONDS``, then 409 ``idempotency_in_progress``). The same key for another
request is 422 ``idempotency_key_reused``. A server error (5xx: the engine was down, a bug) is not
stored: the key is released, so a retry acts. Keys expire after ``OPSPORTAL_API_IDEMPOTENCY_HOURS``
(default 24): then the key is free again. A POST without the header is not deduplicated.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status

from opsportal.api.errors import InvalidParam, OpsError, RequestTooLarge
from opsportal.api.models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_LENGTH = 255
WAIT_SECONDS = 120  # a restart waits up to its timeout (at most 300 s) but answers well within this
POLL_SECONDS = 0.05
PARAMETER = OpenApiParameter(
    HEADER,
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description="any unique string (1 to 255 visible ASCII characters): a retry with the same key and the same "
    "request answers the first outcome and acts once (for OPSPORTAL_API_IDEMPOTENCY_HOURS); the same key for another "
    "request is 422",
)


class KeyReused(OpsError):
    status_code, code = status.HTTP_422_UNPROCESSABLE_ENTITY, "idempotency_key_reused"


class KeyInFlight(OpsError):
    status_code, code = status.HTTP_409_CONFLICT, "idempotency_in_progress"


class Replayed(Exception):
    """The first outcome of this key, to answer again (not an error: the view's exception path carries it)."""

    def __init__(self, status_code: int, body):
        super().__init__(status_code)
        self.status_code, self.body = status_code, body


@dataclass(frozen=True)
class Claim:
    pk: int


def _caller(request) -> str:
    token = request.auth
    if getattr(token, "pk", None) is not None:
        return f"token:{token.pk}"
    user = getattr(request, "user", None)
    return f"user:{user.pk}" if user is not None and user.is_authenticated else "anonymous"


def _key(request) -> str | None:
    key = request.META.get("HTTP_IDEMPOTENCY_KEY")
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_LENGTH or not all(33 <= ord(char) <= 126 for char in key):
        raise InvalidParam(HEADER, f"1 to {MAX_LENGTH} visible ASCII characters")
    return key


def _request_hash(request) -> str:
    try:
        body = request._request.body  # read once here; DRF's parser then reads the same bytes
    except RequestDataTooBig:
        raise RequestTooLarge(f"body: longer than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes") from None
    digest = hashlib.sha256()
    for part in (request.method, request.path, request.META.get("QUERY_STRING", "")):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    digest.update(body)
    return digest.hexdigest()


def idempotency_claim(request) -> Claim | None:
    """Claim this request's key (None: no key, act as usual); or raise ``Replayed``, ``KeyReused``, ``KeyInFlight``."""
    key = _key(request)
    if key is None:
        return None
    caller, digest, now = _caller(request), _request_hash(request), timezone.now()
    IdempotencyKey.objects.filter(expires_at__lte=now).delete()  # expired keys are free again
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            with transaction.atomic():
                row = IdempotencyKey.objects.create(
                    caller=caller,
                    key=key,
                    request_hash=digest,
                    expires_at=now + timedelta(hours=settings.OPSPORTAL_API_IDEMPOTENCY_HOURS),
                )
            return Claim(pk=row.pk)
        except IntegrityError:
            pass
        row = IdempotencyKey.objects.filter(caller=caller, key=key).first()
        if row is None:
            continue  # released meanwhile (the first one failed): claim it
        if row.request_hash != digest:
            raise KeyReused(f"{HEADER}: this key was used for another request (method, path, query or body)")
        if row.status is not None:
            raise Replayed(row.status, row.body)
        if time.monotonic() > deadline:
            raise KeyInFlight(f"{HEADER}: the first request with this key is still running; retry later")
        time.sleep(POLL_SECONDS)


def idempotency_finish(claim: Claim, *, status_code: int, body) -> None:
    """Store the answer of the request that claimed the key; a server error releases the key instead."""
    rows = IdempotencyKey.objects.filter(pk=claim.pk)
    if status_code >= 500:
        rows.delete()
        return
    # The body as JSON: what a replay answers (dates as ISO text, as the JSON renderer writes them).
    rows.update(status=status_code, body=json.loads(DjangoJSONEncoder().encode(body)))


def idempotency_release(claim: Claim) -> None:
    IdempotencyKey.objects.filter(pk=claim.pk).delete()
