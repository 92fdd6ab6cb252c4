"""Scopes get families: stored ``restart`` becomes ``containers:restart`` (and ``containers:check``, the
health checks a restart token could run before they had a scope of their own); room for more scopes.

A ``read``-only token no longer runs health checks (a command inside the container): issue one with
``containers:check``. Going back, ``containers:restart`` is ``restart`` again and the new scopes are dropped.
"""

from django.db import migrations, models

OLD, NEW, CHECK = "restart", "containers:restart", "containers:check"
OLD_NAMES = ("read", OLD)


def forwards(apps, schema_editor):
    ApiToken = apps.get_model("opsapi", "ApiToken")
    for token in ApiToken.objects.filter(scopes__contains=OLD).only("pk", "scopes"):
        scopes = [scope for scope in token.scopes.split(",") if scope]
        if OLD not in scopes:
            continue
        renamed = [NEW if scope == OLD else scope for scope in scopes] + [CHECK]
        ApiToken.objects.filter(pk=token.pk).update(scopes=",".join(dict.fromkeys(renamed)))


def backwards(apps, schema_editor):
    ApiToken = apps.get_model("opsapi", "ApiToken")
    for token in ApiToken.objects.only("pk", "scopes"):
        scopes = [OLD if scope == NEW else scope for scope in token.scopes.split(",") if scope]
        kept = [scope for scope in scopes if scope in OLD_NAMES] or ["read"]
        ApiToken.objects.filter(pk=token.pk).update(scopes=",".join(dict.fromkeys(kept)))


class Migration(migrations.Migration):
    dependencies = [("opsapi", "0001_apitoken_from_walletops")]

    operations = [
        migrations.AlterField(
            model_name="apitoken",
            name="scopes",
            field=models.CharField(help_text="comma-separated scope names (opsportal.api.scopes)", max_length=500),
        ),
        migrations.RunPython(forwards, backwards),
    ]
