"""Model fields of the kernel, for every app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from django.db import models

from crm.validators import validate_no_control_characters

if TYPE_CHECKING:
    # Fields are generic (set type, get type) only in the stubs; at run time not subscriptable.
    _CharField = models.CharField[str, str]
else:
    _CharField = models.CharField


class NameField(_CharField):
    """A one-line name (accounts, contacts, opportunities, companies, products): a CharField
    that refuses control characters in model validation, hence in ModelForms and in
    ModelSerializers (DRF copies the model field's validators), and in every service that
    calls ``full_clean``.

    It deconstructs as a plain CharField: validators do not touch the schema, so no migration
    records them (historical models in migrations need not validate)."""

    default_validators = [validate_no_control_characters]

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.CharField", args, kwargs


class DecimalSize(TypedDict):
    max_digits: int
    decimal_places: int


# Every money column: amounts below 10^14 with cents (``models.DecimalField(..., **MONEY)``).
MONEY: DecimalSize = {"max_digits": 16, "decimal_places": 2}
