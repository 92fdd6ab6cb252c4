from django.apps import AppConfig


class WalletopsConfig(AppConfig):
    name = "walletops"
    verbose_name = "Wallet ops"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings
        from django.db.models.signals import pre_delete

        from walletops import services
        from walletops.web import schema  # noqa: F401  (registers the OpenAPI extensions)

        def revoke_tokens_of_deleted_user(sender, instance, **kwargs):
            services.owner_deleted_tokens_revoke(user=instance)

        pre_delete.connect(revoke_tokens_of_deleted_user, sender=settings.AUTH_USER_MODEL, weak=False,
                           dispatch_uid="walletops.revoke_tokens_of_deleted_user")  # fmt: skip
