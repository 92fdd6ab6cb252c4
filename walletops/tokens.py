"""Wallet ops' permissions and the token scopes it registers with the API kit (``opsportal.api.scopes``).

Tokens themselves (issue, authenticate, revoke, the owner's rights at every use) are the kit's
(``opsportal.api.tokens``); this module says what wallet ops' scopes need.
"""

from __future__ import annotations

from opsportal.api.scopes import scope_alias_register, scope_register

RESTART_PERMISSION = "walletops.restart_container"
HEALTH_CHECK_PERMISSION = "walletops.run_health_check"
DEPLOY_EVENTS_PERMISSION = "walletops.record_deploy_events"
SCOPE_RESTART = "containers:restart"
SCOPE_CHECK = "containers:check"
OLD_SCOPE_RESTART = "restart"  # before scopes had families: accepted on input, stored tokens migrated (opsapi.0002)
SCOPE_DEPLOYS_WRITE = "deploys:write"  # the Kamal hook's token: posts hook events, nothing else


def scopes_register() -> None:
    """Called once the app is ready (``WalletopsConfig.ready``)."""
    scope_register(SCOPE_RESTART, needs=(RESTART_PERMISSION,), description=f"restart containers ({RESTART_PERMISSION})")
    scope_register(
        SCOPE_CHECK,
        needs=(HEALTH_CHECK_PERMISSION,),
        description=f"run containers' health checks, a command inside them ({HEALTH_CHECK_PERMISSION})",
    )
    scope_register(
        SCOPE_DEPLOYS_WRITE,
        needs=(DEPLOY_EVENTS_PERMISSION,),
        description=f"post Kamal hook events, the deploy hook's token ({DEPLOY_EVENTS_PERMISSION})",
    )
    scope_alias_register(OLD_SCOPE_RESTART, SCOPE_RESTART)
