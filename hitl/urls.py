from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from accounts.api import MeView, PasswordResetLinkView, PasswordView, TokenView, UserDetailView, UsersView
from annotations.api import AnnotationsView, ItemDetailView, ReviewNextView, ReviewView, UndoView
from annotations.browse_api import BrowseView, ItemHistoryView
from annotations.relabel_api import LabelMergeView, LabelRenameView, LabelUsageView
from annotations.rework_api import InboxReadView, InboxView, RejectView
from annotations.stats_api import StatsView
from audit.api import AuditExportView, AuditListView
from dataio.api import ExportView, ImportPreviewView, ImportView
from decisions.api import DecisionDetailView, DecisionRulesView, DecisionsView
from models_registry.api import (
    ActivateView,
    LabelIssuesView,
    ModelDetailView,
    ModelListView,
    PrelabelView,
    RollbackView,
    RoutingPreviewView,
    TrainView,
)
from ops.views import MetricsView, readyz
from pages import views
from pages.project_views import InstructionsPreviewView
from tasks.api import (
    ItemListView,
    JobRetryView,
    JobView,
    MemberDetailView,
    MembersView,
    NextView,
    ProjectDetailView,
    ProjectJobsView,
    ProjectListView,
    ReleaseView,
)
from tasks.standing_api import StandingsView, UnpauseView
from webhooks.api import (
    CallbackSecretView,
    ProjectWebhooksView,
    RedeliverView,
    WebhookDeliveriesView,
    WebhookDetailView,
)

api = [
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("users/", UsersView.as_view(), name="api-users"),
    path("users/me/", MeView.as_view(), name="api-me"),
    path("users/me/password/", PasswordView.as_view(), name="api-password"),
    path("users/<int:pk>/", UserDetailView.as_view(), name="api-user"),
    path("users/<int:pk>/password-reset/", PasswordResetLinkView.as_view(), name="api-password-reset"),
    path("projects/", ProjectListView.as_view(), name="api-projects"),
    path("projects/<int:pk>/", ProjectDetailView.as_view(), name="api-project"),
    path("projects/<int:pk>/members/", MembersView.as_view(), name="api-members"),
    path("projects/<int:pk>/labels/rename/", LabelRenameView.as_view(), name="api-label-rename"),
    path("projects/<int:pk>/labels/merge/", LabelMergeView.as_view(), name="api-label-merge"),
    path("projects/<int:pk>/labels/usage/", LabelUsageView.as_view(), name="api-label-usage"),
    path("instructions/preview/", InstructionsPreviewView.as_view(), name="api-instructions-preview"),
    path("projects/<int:pk>/annotators/", StandingsView.as_view(), name="api-standings"),
    path("projects/<int:pk>/annotators/<int:user_id>/unpause/", UnpauseView.as_view(), name="api-unpause"),
    path("projects/<int:pk>/members/<int:user_id>/", MemberDetailView.as_view(), name="api-member"),
    path("projects/<int:pk>/import/", ImportView.as_view(), name="api-import"),
    path("projects/<int:pk>/import/preview/", ImportPreviewView.as_view(), name="api-import-preview"),
    path("projects/<int:pk>/items/", ItemListView.as_view(), name="api-items"),
    path("projects/<int:pk>/browse/", BrowseView.as_view(), name="api-browse"),
    path("projects/<int:pk>/next/", NextView.as_view(), name="api-next"),
    path("projects/<int:pk>/decisions/", DecisionsView.as_view(), name="api-decisions"),
    path("decisions/<int:pk>/", DecisionDetailView.as_view(), name="api-decision"),
    path("projects/<int:pk>/decision-rules/", DecisionRulesView.as_view(), name="api-decision-rules"),
    path("projects/<int:pk>/export/", ExportView.as_view(), name="api-export"),
    path("projects/<int:pk>/review/next/", ReviewNextView.as_view(), name="api-review-next"),
    path("projects/<int:pk>/stats/", StatsView.as_view(), name="api-stats"),
    path("projects/<int:pk>/train/", TrainView.as_view(), name="api-train"),
    path("projects/<int:pk>/models/", ModelListView.as_view(), name="api-models"),
    path("projects/<int:pk>/prelabel/", PrelabelView.as_view(), name="api-prelabel"),
    path("projects/<int:pk>/routing-preview/", RoutingPreviewView.as_view(), name="api-routing-preview"),
    path("projects/<int:pk>/rollback/", RollbackView.as_view(), name="api-rollback"),
    path("projects/<int:pk>/jobs/", ProjectJobsView.as_view(), name="api-project-jobs"),
    path("models/<int:pk>/", ModelDetailView.as_view(), name="api-model"),
    path("models/<int:pk>/activate/", ActivateView.as_view(), name="api-activate"),
    path("models/<int:pk>/label-issues/", LabelIssuesView.as_view(), name="api-label-issues"),
    path("items/<int:pk>/", ItemDetailView.as_view(), name="api-item"),
    path("items/<int:pk>/history/", ItemHistoryView.as_view(), name="api-item-history"),
    path("items/<int:pk>/annotations/", AnnotationsView.as_view(), name="api-annotations"),
    path("items/<int:pk>/annotations/undo/", UndoView.as_view(), name="api-undo"),
    path("items/<int:pk>/review/", ReviewView.as_view(), name="api-review"),
    path("annotations/<int:pk>/reject/", RejectView.as_view(), name="api-reject"),
    path("inbox/", InboxView.as_view(), name="api-inbox"),
    path("inbox/read/", InboxReadView.as_view(), name="api-inbox-read"),
    path("items/<int:pk>/release/", ReleaseView.as_view(), name="api-release"),
    path("jobs/<int:pk>/", JobView.as_view(), name="api-job"),
    path("jobs/<int:pk>/retry/", JobRetryView.as_view(), name="api-job-retry"),
    path("projects/<int:pk>/webhooks/", ProjectWebhooksView.as_view(), name="api-webhooks"),
    path("projects/<int:pk>/webhooks/callback-secret/", CallbackSecretView.as_view(), name="api-callback-secret"),
    path("webhooks/<int:pk>/", WebhookDetailView.as_view(), name="api-webhook"),
    path("webhooks/<int:pk>/deliveries/", WebhookDeliveriesView.as_view(), name="api-webhook-deliveries"),
    path("deliveries/<int:pk>/redeliver/", RedeliverView.as_view(), name="api-redeliver"),
    path("audit/", AuditListView.as_view(), name="api-audit"),
    path("audit/export/", AuditExportView.as_view(), name="api-audit-export"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", views.ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("api/", include(api)),
    path("admin/", admin.site.urls),
    path("metrics", MetricsView.as_view(), name="metrics"),
    path("readyz/", readyz, name="readyz"),
    path("oidc/", include("mozilla_django_oidc.urls")),  # single sign-on (accounts.oidc, docs/sso.md)
    path("", include("pages.urls")),
]
