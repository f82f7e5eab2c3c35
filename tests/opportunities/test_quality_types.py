"""The data-quality annotations' types name exactly the issues the rule flags (the TypedDicts are
for mypy; this keeps them from drifting from OPPORTUNITY_ISSUES / ACCOUNT_ISSUES)."""

from opportunities.selectors import (
    ACCOUNT_ISSUES,
    OPPORTUNITY_ISSUES,
    AccountQuality,
    OpportunityQuality,
)


def test_opportunity_quality_names_every_issue() -> None:
    assert set(OpportunityQuality.__annotations__) == {
        *OPPORTUNITY_ISSUES,
        "has_recent_activity",
        "has_issue",
    }


def test_account_quality_names_every_issue() -> None:
    assert set(AccountQuality.__annotations__) == {*ACCOUNT_ISSUES, "has_issue"}
