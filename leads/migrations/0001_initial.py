# Leads and campaigns moved from the pipeline app (issue 16): the models' state moves here, their
# tables stay as they are (0002 renames them), so existing rows, keys and policies are untouched.

import crm.validators
import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from decimal import Decimal
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('accounts', '0004_audit_history'),
        ('crm', '0004_api_token_lifecycle'),
        ('opportunities', '0004_account_group'),
        ('pipeline', '0002_audit_history'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
        migrations.CreateModel(
            name='Campaign',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=200, verbose_name='name')),
                ('kind', models.CharField(choices=[('event', 'Event'), ('trade_show', 'Trade show'), ('webinar', 'Webinar'), ('email', 'E-mail')], max_length=12, verbose_name='kind')),
                ('starts_on', models.DateField(verbose_name='starts')),
                ('ends_on', models.DateField(verbose_name='ends')),
                ('budget', models.DecimalField(decimal_places=2, default=Decimal('0'), max_digits=14, validators=[django.core.validators.MinValueValidator(Decimal('0'))], verbose_name='budget')),
                ('currency', models.CharField(max_length=3, validators=[crm.validators.validate_currency], verbose_name='currency')),
                ('organization', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crm.organization')),
                ('owner', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'db_table': 'pipeline_campaign',
                'ordering': ['-starts_on'],
            },
        ),
        migrations.CreateModel(
            name='CampaignCompany',
            options={'db_table': 'pipeline_campaigncompany'},
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('campaign', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to='leads.campaign')),
                ('organization', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crm.organization')),
                ('sales_company', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to='crm.salescompany')),
            ],
        ),
        migrations.AddField(
            model_name='campaign',
            name='sales_companies',
            field=models.ManyToManyField(related_name='campaigns', through='leads.CampaignCompany', to='crm.salescompany'),
        ),
        migrations.CreateModel(
            name='Lead',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('source', models.CharField(max_length=100, verbose_name='source')),
                ('company_name', models.CharField(max_length=200, verbose_name='company')),
                ('registration_number', models.CharField(blank=True, max_length=40, verbose_name='registration / VAT number')),
                ('domain', models.CharField(blank=True, max_length=200, verbose_name='web domain')),
                ('contact_name', models.CharField(max_length=200, verbose_name='contact name')),
                ('contact_title', models.CharField(blank=True, max_length=200, verbose_name='contact title')),
                ('email', models.EmailField(blank=True, max_length=254, verbose_name='e-mail')),
                ('phone', models.CharField(blank=True, max_length=50, verbose_name='phone')),
                ('country', models.CharField(max_length=2, validators=[crm.validators.validate_country], verbose_name='country')),
                ('status', models.CharField(choices=[('new', 'New'), ('working', 'Working'), ('qualified', 'Qualified'), ('disqualified', 'Disqualified'), ('converted', 'Converted')], default='new', max_length=12)),
                ('disqualified_reason', models.CharField(blank=True, max_length=200)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('converted_at', models.DateTimeField(blank=True, null=True)),
                ('campaign', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='leads', to='leads.campaign')),
                ('converted_account', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='accounts.account')),
                ('converted_contact', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='accounts.contact')),
                ('converted_opportunity', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='opportunities.opportunity')),
                ('organization', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crm.organization')),
                ('owner', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='leads', to=settings.AUTH_USER_MODEL)),
                ('sales_company', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='leads', to='crm.salescompany')),
            ],
            options={
                'db_table': 'pipeline_lead',
                'ordering': ['-created_at'],
            },
        ),
        migrations.CreateModel(
            name='CampaignMember',
            options={'db_table': 'pipeline_campaignmember'},
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('attended', models.BooleanField(default=False, verbose_name='attended')),
                ('added_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('campaign', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='members', to='leads.campaign')),
                ('contact', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='campaign_memberships', to='accounts.contact')),
                ('organization', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crm.organization')),
                ('lead', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='campaign_memberships', to='leads.lead')),
            ],
        ),
        migrations.AddConstraint(
            model_name='campaigncompany',
            constraint=models.UniqueConstraint(fields=('organization', 'campaign', 'sales_company'), name='campaignco_uniq'),
        ),
        migrations.AddIndex(
            model_name='campaign',
            index=models.Index(fields=['organization', '-starts_on'], name='campaign_org_start_idx'),
        ),
        migrations.AddConstraint(
            model_name='campaign',
            constraint=models.CheckConstraint(condition=models.Q(('ends_on__gte', models.F('starts_on'))), name='campaign_dates_ordered'),
        ),
        migrations.AddIndex(
            model_name='lead',
            index=models.Index(fields=['organization', 'status', '-created_at'], name='lead_org_status_idx'),
        ),
        migrations.AddIndex(
            model_name='lead',
            index=models.Index(fields=['organization', 'sales_company', 'status'], name='lead_org_co_idx'),
        ),
        migrations.AddIndex(
            model_name='lead',
            index=models.Index(fields=['organization', 'owner'], name='lead_org_owner_idx'),
        ),
        migrations.AddConstraint(
            model_name='campaignmember',
            constraint=models.CheckConstraint(condition=models.Q(('contact__isnull', False), ('lead__isnull', False), _connector='OR'), name='member_contact_or_lead'),
        ),
        migrations.AddConstraint(
            model_name='campaignmember',
            constraint=models.UniqueConstraint(condition=models.Q(('contact__isnull', False)), fields=('organization', 'campaign', 'contact'), name='member_contact_uniq'),
        ),
        migrations.AddConstraint(
            model_name='campaignmember',
            constraint=models.UniqueConstraint(condition=models.Q(('lead__isnull', False)), fields=('organization', 'campaign', 'lead'), name='member_lead_uniq'),
        ),
        ]),
    ]
