# The coaching and customer-time figures (reporting.coaching) come from these tables too: the
# same statement trigger as 0002 marks the stored dashboard figures stale on any write.

from django.db import migrations

SOURCES = [
    "coaching_coachingsession",
    "coaching_coachingaction",
    "coaching_coachingsettings",
    "accounts_activity",
]


def _create() -> str:
    return "\n".join(
        f"CREATE TRIGGER {table}_figures_{name} AFTER {event} ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION reporting_figures_invalidate();"
        for table in SOURCES
        for name, event in (("write", "INSERT OR UPDATE OR DELETE"), ("truncate", "TRUNCATE"))
    )


def _drop() -> str:
    return "\n".join(
        f"DROP TRIGGER IF EXISTS {table}_figures_{name} ON {table};"
        for table in SOURCES
        for name in ("write", "truncate")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("reporting", "0002_dashboard_figures"),
        ("coaching", "0001_initial"),
        ("accounts", "0001_initial"),
    ]

    operations = [migrations.RunSQL(_create(), _drop())]
