from django.apps import AppConfig


class WalletopsConfig(AppConfig):
    name = "walletops"
    verbose_name = "Wallet ops"
    default_auto_field = "django.db.models.BigAutoField"
