"""API tokens: a bearer secret (hashed), its scopes, and the person it acts for."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """A bearer token. Only a SHA-256 of the secret is stored; the secret is shown once."""

    name = models.CharField(max_length=100)
    # The token acts as its owner: an owner's permissions are checked again at every use (tokens.py).
    # No owner: a machine token, issued on the command line by someone with shell access.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # Who issued it (the admin user who filled the form); null for command-line tokens.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="issued_api_tokens",
        editable=False,
    )
    # The secret's public prefix finds the row; the hash is then compared in constant time.
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    # Room for every family a token may hold (read,containers:restart,plannings:operate,… is 95 characters).
    scopes = models.CharField(max_length=500, help_text="comma-separated scope names (opsportal.api.scopes)")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The table kept its name when the model moved here from walletops (migrations 0001): no data moved.
        db_table = "walletops_api_token"
        ordering = ["-created_at"]
        permissions = [("manage_all_tokens", "Can issue API tokens owned by others, and list and revoke them")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def scope_list(self) -> list[str]:
        return [scope for scope in self.scopes.split(",") if scope]

    def is_active(self, now) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class IdempotencyKey(models.Model):
    """One POST's ``Idempotency-Key`` for one caller: what was asked (a hash) and, once done, what was answered.

    ``status`` null: the first request is still acting; a retry waits for it (``idempotency.py``).
    """

    caller = models.CharField(max_length=64, help_text="token:<id> or user:<id>")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of the method, path, query and body")
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "opsapi_idempotency_key"
        constraints = [models.UniqueConstraint(fields=["caller", "key"], name="opsapi_idempotency_once")]

    def __str__(self) -> str:
        return f"{self.caller} {self.key}"
