# Conflicts become situations (issue 17), step 1 of 3: the new columns and the participants
# table. Step 2 (0008) moves the data, step 3 (0009) drops the pairwise columns: PostgreSQL will
# not alter a table with pending deferred-constraint events in the transaction that updated it.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0004_audit_history'),
        ('crm', '0005_conflict_rules'),
        ('opportunities', '0006_conflict_deal_closed'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ConflictParticipant',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('coordinated', models.BooleanField(default=False)),
                ('joined_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('left_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'ordering': ['joined_at', 'id'],
            },
        ),
        migrations.RemoveConstraint(
            model_name='conflict',
            name='conflict_one_open_per_finding',
        ),
        migrations.AddField(
            model_name='conflict',
            name='params',
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name='conflict',
            name='product',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='opportunities.product'),
        ),
        migrations.AlterField(
            model_name='conflict',
            name='kind',
            field=models.CharField(choices=[('group_other_company', 'Several companies work the group'), ('same_product', 'Same product, several sellers'), ('agreement', 'Framework agreement applies'), ('duplicate_account', 'Possible duplicate account'), ('team_ack', 'New team deal to acknowledge')], max_length=24),
        ),
        migrations.AlterField(
            model_name='conflict',
            name='resolution',
            field=models.CharField(blank=True, choices=[('assign_owner', 'Assign the owner'), ('merge', 'Merge duplicate accounts'), ('keep_both_split', 'Keep both with a split'), ('acknowledged', 'Acknowledged, no action'), ('deal_closed', 'The deal was won or lost'), ('no_longer_applies', 'No longer applies'), ('merged', 'Merged into one situation')], max_length=20),
        ),
        migrations.AddIndex(
            model_name='conflict',
            index=models.Index(fields=['organization', 'account', 'kind', 'status'], name='conflict_org_acc_idx'),
        ),
        migrations.AddField(
            model_name='conflictparticipant',
            name='account',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.account'),
        ),
        migrations.AddField(
            model_name='conflictparticipant',
            name='conflict',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='participants', to='opportunities.conflict'),
        ),
        migrations.AddField(
            model_name='conflictparticipant',
            name='opportunity',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='conflict_participations', to='opportunities.opportunity'),
        ),
        migrations.AddField(
            model_name='conflictparticipant',
            name='organization',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crm.organization'),
        ),
        migrations.AddField(
            model_name='conflictparticipant',
            name='sales_company',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.salescompany'),
        ),
        migrations.AddField(
            model_name='conflictparticipant',
            name='seller',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddIndex(
            model_name='conflictparticipant',
            index=models.Index(fields=['organization', 'opportunity'], name='participant_org_opp_idx'),
        ),
        migrations.AddIndex(
            model_name='conflictparticipant',
            index=models.Index(fields=['organization', 'sales_company', 'conflict'], name='participant_org_co_idx'),
        ),
        migrations.AddConstraint(
            model_name='conflictparticipant',
            constraint=models.UniqueConstraint(fields=('organization', 'conflict', 'opportunity', 'account'), name='participant_once_per_situation', nulls_distinct=False),
        ),
    ]
