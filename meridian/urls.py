from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts import urls as accounts_urls
from coaching import urls as coaching_urls
from crm import views
from crm.forms import SignInForm
from meridian import history, tasks
from meridian import views as shell_views
from opportunities import urls as opportunities_urls
from pipeline import urls as pipeline_urls
from reporting import urls as reporting_urls
from sso import urls as sso_urls
from webhooks import urls as webhooks_urls

# The global admin's set-up pages (not Django admin): the kernel's and the process's, one namespace.
setup_patterns = [
    path("", views.setup_index, name="index"),
    path("companies/", views.setup_companies, name="companies"),
    path("companies/new/", views.setup_company_edit, name="company_create"),
    path("companies/<int:pk>/", views.setup_company_edit, name="company_edit"),
    path("users/", views.setup_users, name="users"),
    path("users/new/", views.setup_user_edit, name="user_create"),
    path("users/<int:pk>/", views.setup_user_edit, name="user_edit"),
    path("rates/", views.setup_rates, name="rates"),
    *pipeline_urls.setup_urlpatterns,
    *opportunities_urls.setup_urlpatterns,
    *accounts_urls.setup_urlpatterns,
    *coaching_urls.setup_urlpatterns,
    *reporting_urls.setup_urlpatterns,
    *webhooks_urls.setup_urlpatterns,
    *sso_urls.setup_urlpatterns,
]

# The History tabs read accounts' and opportunities' audit trails, so the shell routes them; they
# join each app's own patterns in its namespace, at the same paths and names as before.
# My tasks lists leads handed to the user beside activities and plan actions: the shell's too.
accounts_patterns = [
    path("<int:pk>/history/", history.account_history, name="history"),
    path("tasks/", tasks.my_tasks, name="tasks"),
    *accounts_urls.urlpatterns,
    *opportunities_urls.account_urlpatterns,
]
coaching_patterns = [
    path("<int:pk>/history/", history.coaching_history, name="history"),
    *coaching_urls.urlpatterns,
]
opportunities_patterns = [
    path("<int:pk>/history/", history.opportunity_history, name="history"),
    *opportunities_urls.urlpatterns,
]

admin.site.site_header = "Meridian CRM administration"
admin.site.site_title = "Meridian CRM"

urlpatterns = [
    path("", shell_views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="registration/login.html",
            redirect_authenticated_user=True,
            authentication_form=SignInForm,
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("meridian.api_urls")),
    path("reports/", include("reporting.urls")),
    path("opportunities/", include((opportunities_patterns, "opportunities"))),
    path("accounts/", include((accounts_patterns, "accounts"))),
    path("coaching/", include((coaching_patterns, "coaching"))),
    path("imports/", include("imports.urls")),
    path("search/", shell_views.search, name="search"),
    path("profile/", views.profile, name="profile"),
    path("profile/password/", views.profile_password, name="profile_password"),
    path("profile/tokens/", views.profile_token_create, name="profile_token_create"),
    path(
        "profile/tokens/<int:pk>/revoke/", views.profile_token_revoke, name="profile_token_revoke"
    ),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications_read"),
    path("notifications/<int:pk>/open/", views.notification_open, name="notification_open"),
    path("setup/", include((setup_patterns, "setup"))),
    path("privacy/", include("privacy.urls")),
    path("sso/", include("sso.urls")),
    path("", include("leads.urls")),
]

handler403 = "crm.views.permission_denied"
handler404 = "crm.views.page_not_found"
