"""The endpoints' signing secrets encrypted at rest (crm.vault): the readable column is
replaced by its encrypted form, row by row, in one migration."""

from django.db import migrations, models

PURPOSE = "webhooks.signing-secret"  # webhooks.models.SECRET_PURPOSE, fixed here as at the time


def _per_organization(schema_editor, select, update, convert):
    """Each organization's endpoints with app.org_id set as the application would: row-level
    security is forced on the table, so the owner sees only the organization in scope."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT id FROM crm_organization ORDER BY id")
        for (org_id,) in cursor.fetchall():
            cursor.execute("SELECT set_config('app.org_id', %s, true)", [str(org_id)])
            cursor.execute(select, [org_id])
            for pk, value in cursor.fetchall():
                cursor.execute(update, [convert(value), pk])
        cursor.execute("SELECT set_config('app.org_id', '', true)")


def encrypt_secrets(apps, schema_editor):
    from crm import vault

    _per_organization(
        schema_editor,
        "SELECT id, secret FROM webhooks_webhookendpoint WHERE organization_id = %s",
        "UPDATE webhooks_webhookendpoint SET secret_encrypted = %s WHERE id = %s",
        lambda secret: vault.encrypt(secret, purpose=PURPOSE),
    )


def decrypt_secrets(apps, schema_editor):
    from crm import vault

    _per_organization(
        schema_editor,
        "SELECT id, secret_encrypted FROM webhooks_webhookendpoint WHERE organization_id = %s",
        "UPDATE webhooks_webhookendpoint SET secret = %s WHERE id = %s",
        lambda token: vault.decrypt(token, purpose=PURPOSE),
    )


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="webhookendpoint",
            name="secret_encrypted",
            field=models.TextField(default="", editable=False),
            preserve_default=False,
        ),
        migrations.RunPython(encrypt_secrets, decrypt_secrets),
        migrations.RemoveField(model_name="webhookendpoint", name="secret"),
    ]
