# API tokens get an expiry and a revocation time (issue 15, hole 5). Existing tokens expire
# API_TOKEN_TTL_DAYS after this migration runs (the default is evaluated once for them).

import crm.models
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0003_audit_history'),
    ]

    operations = [
        migrations.AddField(
            model_name='apitoken',
            name='expires_at',
            field=models.DateTimeField(default=crm.models.api_token_expiry, verbose_name='expires'),
        ),
        migrations.AddField(
            model_name='apitoken',
            name='revoked_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='revoked'),
        ),
    ]
