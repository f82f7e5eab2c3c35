# The moved tables take the leads app's names. A rename keeps rows, indexes, constraints,
# composite tenant keys and row-level security policies (PostgreSQL binds them to the table).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('leads', '0001_initial'),
        ('pipeline', '0003_leads_app'),
    ]

    operations = [
        migrations.AlterModelTable(name='campaign', table=None),
        migrations.AlterModelTable(name='campaigncompany', table=None),
        migrations.AlterModelTable(name='lead', table=None),
        migrations.AlterModelTable(name='campaignmember', table=None),
    ]
