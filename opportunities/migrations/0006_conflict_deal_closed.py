# A won or lost deal leaves its conflicts (issue 17): the new resolution, and the conflicts of
# deals closed before this release closed the same way (duplicate-account findings stay open).

from django.db import migrations, models

# Per organization, with app.org_id set as the application would: row-level security is forced
# on these tables, so an owner that is not a superuser sees only the organization in scope.
CLOSE_CONFLICTS_OF_CLOSED_DEALS = """
UPDATE opportunities_conflict c
   SET status = 'resolved', resolution = 'deal_closed', resolved_at = now(), resolved_by_id = NULL
 WHERE c.organization_id = %s
   AND c.status = 'open'
   AND c.kind <> 'duplicate_account'
   AND EXISTS (
       SELECT 1 FROM opportunities_opportunity o
        WHERE o.organization_id = c.organization_id
          AND o.id IN (c.opportunity_id, c.other_opportunity_id)
          AND o.closed_at IS NOT NULL
   )
"""


def close_conflicts_of_closed_deals(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT id FROM crm_organization ORDER BY id")
        for (org_id,) in cursor.fetchall():
            cursor.execute("SELECT set_config('app.org_id', %s, true)", [str(org_id)])
            cursor.execute(CLOSE_CONFLICTS_OF_CLOSED_DEALS, [org_id])


class Migration(migrations.Migration):

    dependencies = [
        ('opportunities', '0005_leads_app'),
    ]

    operations = [
        migrations.AlterField(
            model_name='conflict',
            name='resolution',
            field=models.CharField(blank=True, choices=[('assign_owner', 'Assign the owner'), ('merge', 'Merge duplicate accounts'), ('keep_both_split', 'Keep both with a split'), ('acknowledged', 'Acknowledged, no action'), ('deal_closed', 'The deal was won or lost')], max_length=20),
        ),
        migrations.RunPython(close_conflicts_of_closed_deals, migrations.RunPython.noop),
    ]
