from django.apps import AppConfig


class WalletopsConfig(AppConfig):
    name = "walletops"
    verbose_name = "Wallet ops"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from walletops.web import schema  # noqa: F401  (registers the OpenAPI extensions)
