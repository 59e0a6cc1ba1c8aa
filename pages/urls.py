"""The pages people use in the browser: login, home, labeling, review, dashboard, models, settings."""
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import path

from pages import (
    account_views,
    data_views,
    decision_views,
    export_views,
    import_views,
    inbox_views,
    people_views,
    project_views,
    views,
    webhook_views,
)

urlpatterns = [
    path("login/", account_views.Login.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", account_views.PasswordChange.as_view(), name="password-change"),
    path("password/changed/", account_views.PasswordChangeDone.as_view(), name="password-change-done"),
    path("password/forgot/", account_views.PasswordForgot.as_view(), name="password-forgot"),
    path("password/forgot/sent/", account_views.PasswordForgotDone.as_view(), name="password-forgot-done"),
    path("reset/<uidb64>/<token>/", account_views.PasswordResetConfirm.as_view(), name="password-reset-confirm"),
    path("reset/done/", account_views.PasswordResetComplete.as_view(), name="password-reset-complete"),
    path("healthz/", views.healthz, name="healthz"),
    path("", views.home, name="home"),
    path("projects/<int:pk>/label/", views.label, name="label"),
    path("projects/<int:pk>/review/", views.review, name="review"),
    path("projects/<int:pk>/dashboard/", views.dashboard, name="dashboard"),
    path("projects/<int:pk>/models/", views.models_page, name="models"),
    path("projects/<int:pk>/settings/", views.project_settings, name="project-settings"),
    path("projects/new/", project_views.project_new, name="project-new"),
    path("projects/<int:pk>/edit/", project_views.project_edit, name="project-edit"),
    path("projects/<int:pk>/members/", people_views.members, name="members"),
    path("users/", people_views.users, name="users"),
    path("inbox/", inbox_views.inbox_page, name="inbox"),
    path("projects/<int:pk>/export/", export_views.export_page, name="export"),
    path("projects/<int:pk>/import/", import_views.import_page, name="import"),
    path("projects/<int:pk>/data/", data_views.data_page, name="data"),
    path("projects/<int:pk>/decisions/", decision_views.decisions_page, name="decisions"),
    path("projects/<int:pk>/webhooks/", webhook_views.webhooks_page, name="webhooks"),
    # Uploaded media (images); a production deployment may serve these from the web server.
    path(f"{settings.MEDIA_URL.strip('/')}/<path:path>", views.MediaView.as_view(), name="media"),
]
