from django.apps import AppConfig


class WalletopsConfig(AppConfig):
    name = "walletops"
    verbose_name = "Wallet ops"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from walletops import tokens
        from walletops.web import (
            errors,  # noqa: F401  (gives the domain failures their HTTP status)
            schema,  # noqa: F401  (registers the OpenAPI extensions)
        )

        tokens.scopes_register()
