# The stored customer values feed the dashboard's segments block: a refresh of them makes the
# organization's stored figures stale, like a write to any other source table (0002).

from django.db import migrations

TABLE = "accounts_accountvalue"

CREATE = f"""
CREATE TRIGGER {TABLE}_figures_write AFTER INSERT OR UPDATE OR DELETE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION reporting_figures_invalidate();
CREATE TRIGGER {TABLE}_figures_truncate AFTER TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION reporting_figures_invalidate();
"""
DROP = f"""
DROP TRIGGER IF EXISTS {TABLE}_figures_write ON {TABLE};
DROP TRIGGER IF EXISTS {TABLE}_figures_truncate ON {TABLE};
"""


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0009_customer_value"),
        ("reporting", "0003_coaching_figures"),
    ]

    operations = [migrations.RunSQL(CREATE, DROP)]
