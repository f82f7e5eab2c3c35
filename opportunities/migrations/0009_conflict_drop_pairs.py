# Conflicts become situations, step 3 of 3: the pairwise columns go; one open row per situation.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [('opportunities', '0008_conflict_pairs_to_situations')]

    operations = [
        migrations.RemoveIndex(
            model_name='conflict',
            name='conflict_org_oco_idx',
        ),
        migrations.RemoveField(
            model_name='conflict',
            name='detail',
        ),
        migrations.RemoveField(
            model_name='conflict',
            name='other_opportunity',
        ),
        migrations.RemoveField(
            model_name='conflict',
            name='other_sales_company',
        ),
        migrations.AddConstraint(
            model_name='conflict',
            constraint=models.UniqueConstraint(condition=models.Q(('status', 'open')), fields=('organization', 'kind', 'account', 'opportunity', 'product', 'other_account', 'agreement'), name='conflict_one_open_per_situation', nulls_distinct=False),
        ),
    ]
