from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "opsportal.api"
    # "api" would be a generic label for the admin's URLs and the permission names: opsapi.add_apitoken.
    label = "opsapi"
    verbose_name = "API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings
        from django.db.models.signals import pre_delete

        from opsportal.api import (
            schema,  # noqa: F401  (registers the OpenAPI extensions)
            services,
        )

        def revoke_tokens_of_deleted_user(sender, instance, **kwargs):
            services.owner_deleted_tokens_revoke(user=instance)

        # The same dispatch_uid as before the move: a process never connects it twice.
        pre_delete.connect(revoke_tokens_of_deleted_user, sender=settings.AUTH_USER_MODEL, weak=False,
                           dispatch_uid="walletops.revoke_tokens_of_deleted_user")  # fmt: skip
