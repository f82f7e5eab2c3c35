# Conflicts become situations (issue 17): one open row per group (and group + product), with its
# deals as participants, instead of one row per pair of deals. Every row keeps its resolution;
# open rows of the same situation are folded into the oldest one (the others are resolved as
# "merged", naming the row they went into). Texts are no longer stored: the agreement's discount
# and a duplicate's reasons become parameters, rendered in the reader's language.
# Coordinated team deals are recomputed by the next detection (`manage.py redetect_conflicts`).

from django.db import migrations

# Per organization, with app.org_id set as the application would: row-level security is forced
# on these tables, so an owner that is not a superuser sees only the organization in scope.
STEPS = [
    # Participants from both sides of every row: a deal with its company and seller, or for a
    # duplicate the two accounts with their home companies.
    """
    INSERT INTO opportunities_conflictparticipant
           (organization_id, conflict_id, opportunity_id, account_id, sales_company_id,
            seller_id, coordinated, joined_at, left_at)
    SELECT c.organization_id, c.id, o.id, NULL, o.sales_company_id, o.owner_id, false,
           c.created_at, NULL
      FROM opportunities_conflict c
      JOIN opportunities_opportunity o
        ON o.organization_id = c.organization_id
       AND o.id IN (c.opportunity_id, c.other_opportunity_id)
     WHERE c.organization_id = %(org)s AND c.kind <> 'duplicate_account'
    ON CONFLICT DO NOTHING
    """,
    """
    INSERT INTO opportunities_conflictparticipant
           (organization_id, conflict_id, opportunity_id, account_id, sales_company_id,
            seller_id, coordinated, joined_at, left_at)
    SELECT c.organization_id, c.id, NULL, a.id, a.home_company_id, NULL, false,
           c.created_at, NULL
      FROM opportunities_conflict c
      JOIN accounts_account a
        ON a.organization_id = c.organization_id AND a.id IN (c.account_id, c.other_account_id)
     WHERE c.organization_id = %(org)s AND c.kind = 'duplicate_account'
    ON CONFLICT DO NOTHING
    """,
    # The same product: the lowest product the two deals share (else the first deal's).
    """
    UPDATE opportunities_conflict c
       SET product_id = COALESCE(
           (SELECT min(l1.product_id) FROM opportunities_opportunityline l1
              JOIN opportunities_opportunityline l2
                ON l2.organization_id = l1.organization_id AND l2.product_id = l1.product_id
             WHERE l1.organization_id = c.organization_id
               AND l1.opportunity_id = c.opportunity_id
               AND l2.opportunity_id = c.other_opportunity_id),
           (SELECT min(l.product_id) FROM opportunities_opportunityline l
             WHERE l.organization_id = c.organization_id AND l.opportunity_id = c.opportunity_id))
     WHERE c.organization_id = %(org)s AND c.kind = 'same_product'
    """,
    # Group kinds are anchored at the group's top account and have no deal of their own.
    """
    UPDATE opportunities_conflict c
       SET account_id = COALESCE(a.group_id, a.id), opportunity_id = NULL
      FROM accounts_account a
     WHERE a.organization_id = c.organization_id AND a.id = c.account_id
       AND c.organization_id = %(org)s
       AND c.kind IN ('group_other_company', 'same_product')
    """,
    # Parameters instead of stored texts.
    """
    UPDATE opportunities_conflict
       SET params = jsonb_build_object(
           'percent', substring(detail from '([0-9]+(?:[.,][0-9]+)?) ?%%'))
     WHERE organization_id = %(org)s AND kind = 'agreement'
       AND substring(detail from '([0-9]+(?:[.,][0-9]+)?) ?%%') IS NOT NULL
    """,
    """
    UPDATE opportunities_conflict
       SET params = jsonb_build_object(
           'reasons', to_jsonb(string_to_array(replace(detail, ' ', ''), ',')))
     WHERE organization_id = %(org)s AND kind = 'duplicate_account' AND detail <> ''
    """,
    # A duplicate pair is one situation whichever account reported it: lower id first.
    """
    UPDATE opportunities_conflict
       SET account_id = other_account_id, other_account_id = account_id
     WHERE organization_id = %(org)s AND kind = 'duplicate_account'
       AND other_account_id IS NOT NULL AND other_account_id < account_id
    """,
    # Fold the open rows of one situation into its oldest row: participants first, then the
    # others are resolved as merged, naming the row they went into.
    """
    CREATE TEMP TABLE situation_fold ON COMMIT DROP AS
    SELECT c.id, first_value(c.id) OVER w AS into_id
      FROM opportunities_conflict c
     WHERE c.organization_id = %(org)s AND c.status = 'open'
    WINDOW w AS (PARTITION BY c.kind, c.account_id, c.opportunity_id, c.product_id,
                              c.other_account_id, c.agreement_id
                 ORDER BY c.created_at, c.id)
    """,
    """
    INSERT INTO opportunities_conflictparticipant
           (organization_id, conflict_id, opportunity_id, account_id, sales_company_id,
            seller_id, coordinated, joined_at, left_at)
    SELECT p.organization_id, f.into_id, p.opportunity_id, p.account_id, p.sales_company_id,
           p.seller_id, p.coordinated, p.joined_at, p.left_at
      FROM opportunities_conflictparticipant p
      JOIN situation_fold f ON f.id = p.conflict_id AND f.id <> f.into_id
     WHERE p.organization_id = %(org)s
    ON CONFLICT DO NOTHING
    """,
    """
    UPDATE opportunities_conflict c
       SET status = 'resolved', resolution = 'merged', resolved_at = now(),
           resolution_note = 'Merged into situation #' || f.into_id
      FROM situation_fold f
     WHERE f.id = c.id AND f.id <> f.into_id AND c.organization_id = %(org)s
    """,
    "DROP TABLE situation_fold",
]


def pairs_to_situations(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT id FROM crm_organization ORDER BY id")
        for (org_id,) in cursor.fetchall():
            cursor.execute("SELECT set_config('app.org_id', %s, true)", [str(org_id)])
            for step in STEPS:
                cursor.execute(step, {"org": org_id})


class Migration(migrations.Migration):

    dependencies = [('opportunities', '0007_conflict_situations')]

    operations = [migrations.RunPython(pairs_to_situations, migrations.RunPython.noop)]
