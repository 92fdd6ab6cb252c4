"""The read-only restart audit trail (tokens are the API kit's admin: ``opsportal.api.admin``)."""

from __future__ import annotations

from django.contrib import admin

from opsportal.lib.admin import ReadOnlyAdmin, time_column
from walletops.models import RestartAudit


@admin.register(RestartAudit)
class RestartAuditAdmin(ReadOnlyAdmin):
    # The token's owner and issuer are on the row's page: the list fits 1280 px.
    list_display = ["when", "container", "env", "outcome", "actor", "token_name", "duration_ms", "repeats", "detail"]
    when = time_column("created_at", description="when")
    list_filter = ["outcome", "env"]
    search_fields = ["container", "actor", "token_name", "token_owner", "token_issued_by"]
