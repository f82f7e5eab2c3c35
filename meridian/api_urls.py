"""/api/v1/: one router for every app's resources, the token sign-in and the OpenAPI schema."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.routers import DefaultRouter
from rest_framework.views import APIView

from accounts import api as accounts_api
from coaching import api as coaching_api
from crm import api as crm_api
from imports import api as imports_api
from leads import api as leads_api
from opportunities import api as opportunities_api
from opportunities.customer_api import Account360View
from pipeline import api as pipeline_api
from privacy import api as privacy_api
from reporting import api as reporting_api
from reporting import joint_goals_api
from webhooks import api as webhooks_api


@csrf_exempt  # it changes nothing; a CSRF refusal would answer HTML instead of the JSON 404
def api_not_found(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"detail": "Not found."}, status=404)


class DocsPermission(BasePermission):
    """The schema and Swagger UI need sign-in unless API_DOCS_PUBLIC (default: only with DEBUG);
    read per request, so a test or a deployment can switch it without re-importing."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return settings.API_DOCS_PUBLIC or bool(request.user and request.user.is_authenticated)


_DOCS = [DocsPermission]

router = DefaultRouter()
for app_api in (
    crm_api,
    accounts_api,
    pipeline_api,
    opportunities_api,
    leads_api,
    coaching_api,
    imports_api,
    reporting_api,
):
    app_api.register(router)

# The global admin's endpoints answer 404 to every other role, lists included: the generated
# isolation tests of the main router assume a list every role may read, so these have a router
# of their own (tests/webhooks/test_webhooks.py checks their 404s for every role and method).
admin_router = DefaultRouter()
admin_router.include_root_view = False
webhooks_api.register(admin_router)

urlpatterns = [
    path("auth/token/", crm_api.TokenView.as_view(), name="api-token"),
    path("auth/tokens/", crm_api.TokenListView.as_view(), name="api-tokens"),
    path("auth/tokens/<int:pk>/", crm_api.TokenDetailView.as_view(), name="api-token-detail"),
    path("schema/", SpectacularAPIView.as_view(permission_classes=_DOCS), name="api-schema"),
    # The split view serves its script as a file: the CSP allows no inline scripts.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", permission_classes=_DOCS),
        name="api-docs",
    ),
    # The 360° reads deals (opportunities.customer_api), beside the accounts router's routes.
    path("accounts/<str:pk>/360/", Account360View.as_view(), name="account-view-360"),
    path(
        "reports/segments/",
        reporting_api.SegmentReportView.as_view(),
        name="segment-report",
    ),
    # Overlay credit and smarketing figures (reporting.joint_goals_api): reads, not resources.
    path("smarketing/", joint_goals_api.SmarketingView.as_view(), name="smarketing"),
    path(
        "smarketing/campaigns/<str:pk>/",
        joint_goals_api.CampaignSmarketingView.as_view(),
        name="smarketing-campaign",
    ),
    path(
        "overlay-attainment/",
        joint_goals_api.OverlayAttainmentView.as_view(),
        name="overlay-attainment",
    ),
    *privacy_api.urlpatterns,
    path("", include(router.urls)),
    path("", include(admin_router.urls)),
    # Anything else under /api/v1/ is a JSON 404, not the HTML page of the site.
    re_path(r"^.*$", api_not_found),
]
