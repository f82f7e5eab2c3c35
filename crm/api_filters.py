"""The API's filter backend: django-filter's, with each viewset's FilterSet class made once.

Kept apart from ``crm.drf``: DRF imports its filter backends while its own views module is
still loading (as ``crm.api_auth`` for the authentication classes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.db.models import Model, QuerySet
from django_filters.filters import QuerySetRequestMixin
from django_filters.filterset import remote_queryset
from django_filters.rest_framework import DjangoFilterBackend, FilterSet
from django_filters.utils import get_model_field

from crm.models import User


def filter_choices(field: Any, organization_id: int) -> QuerySet[Any]:
    """The rows a model-choice filter on ``field`` accepts in the organization (in scope): its
    form field validates an id against them. Also the definition of the compiled id check of
    the opportunity API list's filters (``opportunities.api_list``)."""
    # Users are the one related model whose manager is not org-scoped (sign-in finds them before
    # any organization is known): their choices are the request's organization's, or
    # ?owner=<another organization's user> would answer 200 where an unknown id answers 400.
    if field.remote_field.model is User:
        return User.objects.for_org(organization_id)
    rows: QuerySet[Any] = remote_queryset(field)
    return rows


def _rows_per_request(field: Any) -> Callable[[Any], QuerySet[Any]]:
    # The stock filter's queryset, made when a request builds its form (in its organization).
    return lambda request: filter_choices(field, request.user.organization_id)


class _FreshFieldsFilterSet(FilterSet):  # type: ignore[misc]  # django-filter is untyped
    """Each FilterSet instance makes its form fields anew: a filter's field is cached on the
    filter (``_field``), and the class kept across requests must not hand one request's field
    (with its queryset) to the next through the per-instance copy of its filters. The schema
    generator reads the class's own filters' fields."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for filter_ in self.filters.values():
            filter_.__dict__.pop("_field", None)


class FilterBackend(DjangoFilterBackend):  # type: ignore[misc]  # django-filter is untyped
    """django-filter's backend with the FilterSet class made once per viewset, not per request.

    The stock backend makes a FilterSet class from ``filterset_fields`` on every request (the
    class, its filters, their model look-ups): a sixth of an API list page's CPU. Here the class
    is kept per viewset and model. Its model-choice filters make their queryset per request
    (django-filter's callable ``queryset``), as the stock class does: the org-scoped manager
    puts the organization in scope into a queryset when it is made, so a queryset kept from the
    first request would check the next organization's ids against the first one's rows.

    A request that names none of the filters gets the queryset as it is, without building a
    FilterSet and its form: empty filter values filter nothing, and the form of a request
    without filter values is always valid."""

    filterset_base = _FreshFieldsFilterSet
    _classes: ClassVar[dict[tuple[type, type[Model]], Any]] = {}
    _names: ClassVar[dict[Any, frozenset[str]]] = {}

    def get_filterset_class(self, view: Any, queryset: Any = None) -> Any:
        if (
            getattr(view, "filterset_class", None) is not None
            or queryset is None
            or not isinstance(getattr(view, "filterset_fields", None), (list, tuple))
        ):
            return super().get_filterset_class(view, queryset)
        key = (type(view), queryset.model)
        found = self._classes.get(key)
        if found is None:
            found = super().get_filterset_class(view, queryset)
            for name, filter_ in found.base_filters.items():
                if isinstance(filter_, QuerySetRequestMixin) and isinstance(
                    filter_.queryset, QuerySet
                ):
                    field = get_model_field(queryset.model, filter_.field_name)
                    filter_.queryset = _rows_per_request(field)
                    filter_.extra.pop("queryset", None)
                elif isinstance(getattr(filter_, "queryset", None), QuerySet):
                    raise TypeError(f"{key}: filter {name!r} keeps a queryset across requests.")
            self._classes[key] = found
        return found

    def filter_queryset(self, request: Any, queryset: Any, view: Any) -> Any:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None:
            return queryset
        names = self._names.get(filterset_class)
        if names is None:
            names = self._names[filterset_class] = frozenset(filterset_class.base_filters)
        params = request.query_params
        if not any(name in params for name in names):
            return queryset
        return super().filter_queryset(request, queryset, view)
