"""REST endpoints of webhooks (admins only): hooks of a project, their deliveries, re-sending one."""
from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import permissions
from common.errors import NotFound
from tasks.access import check_role, get_project, is_member
from webhooks import services
from webhooks.models import Attempt, Delivery, Webhook
from webhooks.serializers import CallbackSecretSerializer, DeliverySerializer, WebhookSerializer


def _manage(user, project_id: int | None, what: str) -> None:
    """404 unless the user may read the project (admins only without one), then 403 unless an admin."""
    if (project_id is None and not user.is_admin) or (project_id is not None and not is_member(user, project_id)):
        raise NotFound(f"No such {what}.")
    check_role(user, permissions.MANAGE, "manage webhooks")


def get_webhook(user, webhook_id) -> Webhook:
    """The hook if the user may manage its project: 404 for outsiders, 403 for members who are not admins."""
    hook = Webhook.objects.filter(pk=webhook_id).first()
    if hook is None:
        raise NotFound("No such webhook.")
    _manage(user, hook.project_id, "webhook")
    return hook


def get_delivery(user, delivery_id) -> Delivery:
    delivery = Delivery.objects.filter(pk=delivery_id).first()
    if delivery is None:
        raise NotFound("No such delivery.")
    _manage(user, delivery.project_id, "delivery")
    return delivery


def _limit(request, default: int = 50) -> int:
    try:
        limit = int(request.query_params.get("limit", default))
    except ValueError:
        raise ValidationError({"limit": ["Must be a whole number."]}) from None
    if not 1 <= limit <= 200:
        raise ValidationError({"limit": ["Must be between 1 and 200."]})
    return limit


class ProjectWebhooksView(APIView):
    """A project's webhooks; admins list and add them (the answer to POST shows the secret)."""

    @extend_schema(responses=WebhookSerializer(many=True))
    def get(self, request, pk):
        project = get_project(request.user, pk)
        check_role(request.user, permissions.MANAGE, "manage webhooks")
        hooks = Webhook.objects.filter(project=project).order_by("id")
        return Response(WebhookSerializer(hooks, many=True).data)

    @extend_schema(request=WebhookSerializer, responses={201: WebhookSerializer})
    def post(self, request, pk):
        project = get_project(request.user, pk)
        check_role(request.user, permissions.MANAGE, "manage webhooks")
        serializer = WebhookSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        hook = services.create_webhook(project, url=data["url"], events=data["events"],
                                       active=data.get("active", True), user=request.user)
        return Response(WebhookSerializer(hook, context={"reveal_secret": True}).data, status=status.HTTP_201_CREATED)


class WebhookDetailView(APIView):
    """One webhook: read (`?reveal=secret` shows its secret), change, remove."""

    @extend_schema(parameters=[OpenApiParameter("reveal", str, enum=["secret"])], responses=WebhookSerializer)
    def get(self, request, pk):
        hook = get_webhook(request.user, pk)
        reveal = request.query_params.get("reveal") == "secret"
        return Response(WebhookSerializer(hook, context={"reveal_secret": reveal}).data)

    @extend_schema(request=WebhookSerializer, responses=WebhookSerializer)
    def patch(self, request, pk):
        hook = get_webhook(request.user, pk)
        serializer = WebhookSerializer(hook, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        rotate = data.get("rotate_secret", False)
        hook = services.update_webhook(hook, user=request.user, url=data.get("url"), events=data.get("events"),
                                       active=data.get("active"), rotate_secret=rotate)
        return Response(WebhookSerializer(hook, context={"reveal_secret": rotate}).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        services.delete_webhook(get_webhook(request.user, pk), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveriesView(APIView):
    """A webhook's deliveries, newest first, each with its attempts; `limit` caps (50, at most 200)."""

    @extend_schema(parameters=[OpenApiParameter("limit", int)], responses=DeliverySerializer(many=True))
    def get(self, request, pk):
        hook = get_webhook(request.user, pk)
        deliveries = (Delivery.objects.filter(webhook=hook).order_by("-created_at", "-id")
                      .prefetch_related(Prefetch("attempt_set", queryset=Attempt.objects.order_by("id"))))
        return Response(DeliverySerializer(deliveries[:_limit(request)], many=True).data)


class RedeliverView(APIView):
    """Send a delivery again now, with the same delivery id (a webhook's or a callback's)."""

    @extend_schema(request=None, responses={202: DeliverySerializer})
    def post(self, request, pk):
        delivery = services.redeliver(get_delivery(request.user, pk))
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class CallbackSecretView(APIView):
    """The secret that signs the project's one-off callbacks (`callback_url`)."""

    @extend_schema(responses=CallbackSecretSerializer)
    def get(self, request, pk):
        project = get_project(request.user, pk)
        check_role(request.user, permissions.MANAGE, "see the callback secret")
        return Response({"secret": services.callback_secret(project.pk)})
