"""Deploy writes: a hook's event stored (once, however often the hook retried)."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from walletops.deploys.formats import HookEvent
from walletops.models import DeployHookEvent


def hook_event_store(event: HookEvent, *, token_name: str = "") -> tuple[DeployHookEvent, bool]:
    """The stored row and whether it is new (a repeat of the same run returns the first row)."""
    key = {
        "hook": event.hook, "service": event.service, "destination": event.destination,
        "recorded_at": event.recorded_at, "version": event.version,
    }  # fmt: skip
    fields = {
        "performer": event.performer, "service_version": event.service_version, "hosts": list(event.hosts),
        "roles": list(event.roles), "lock": event.lock, "command": event.command, "subcommand": event.subcommand,
        "runtime_seconds": event.runtime_seconds, "token_name": token_name,
    }  # fmt: skip
    try:
        with transaction.atomic():
            return DeployHookEvent.objects.create(**key, **fields), True
    except IntegrityError:
        return DeployHookEvent.objects.get(**key), False
