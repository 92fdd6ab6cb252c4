"""``ApiToken`` is the API kit's now (``opsapi.0001``): the restart ledger's foreign key points at it there,
and wallet ops' state forgets the model. State only: the table and its constraint do not change."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("walletops", "0004_health_check_permission"),
        ("opsapi", "0001_apitoken_from_walletops"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="restartaudit",
                    name="token",
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to="opsapi.apitoken"),
                ),
                migrations.DeleteModel(name="ApiToken"),
            ],
            database_operations=[],
        ),
    ]
