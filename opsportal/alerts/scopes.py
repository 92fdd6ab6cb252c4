"""The alerts' action permissions and the token scopes they register with the API kit (``opsportal.api.scopes``)."""

from __future__ import annotations

from opsportal.api.scopes import scope_register

ACKNOWLEDGE_PERMISSION = "alerts.acknowledge_alert"
MUTE_PERMISSION = "alerts.add_mute"
UNMUTE_PERMISSION = "alerts.delete_mute"
CHANNEL_TEST_PERMISSION = "alerts.change_channel"  # who may change a channel may send its test
SCOPE_MUTE = "alerts:mute"
SCOPE_TEST = "alerts:test"


def scopes_register() -> None:
    """Called once the app is ready (``AlertsConfig.ready``)."""
    scope_register(
        SCOPE_MUTE,
        # One scope for the Operator's alert actions: a token holding it acts as far as its owner may.
        needs=(ACKNOWLEDGE_PERMISSION, MUTE_PERMISSION, UNMUTE_PERMISSION),
        description="acknowledge an alert and take it back, mute and unmute "
        f"({ACKNOWLEDGE_PERMISSION}, {MUTE_PERMISSION}, {UNMUTE_PERMISSION})",
    )
    scope_register(
        SCOPE_TEST,
        needs=(CHANNEL_TEST_PERMISSION,),
        description=f"send a channel's test message ({CHANNEL_TEST_PERMISSION})",
    )
