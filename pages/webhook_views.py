"""Admins see a project's webhooks in the browser: the hooks, their recent deliveries and attempts.

The page only shows; its script (static/js/webhooks.js) makes every change through the REST API."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.shortcuts import render

from tasks.models import Project
from webhooks.models import Attempt, Delivery, Event, Webhook

RECENT = 20  # deliveries shown per hook


@login_required
def webhooks_page(request, pk: int):
    """A project's webhooks with their latest deliveries; admins add, pause, remove and re-send."""
    if not request.user.is_admin:
        raise PermissionDenied("Only admins manage webhooks.")
    project = Project.objects.filter(pk=pk).first()
    if project is None:
        raise PermissionDenied("No such project.")
    hooks = list(Webhook.objects.filter(project=project).order_by("id"))
    attempts = Prefetch("attempt_set", queryset=Attempt.objects.order_by("id"))
    for hook in hooks:
        hook.recent = list(Delivery.objects.filter(webhook=hook).order_by("-created_at", "-id")
                           .prefetch_related(attempts)[:RECENT])
    return render(request, "webhooks.html", {"project": project, "hooks": hooks, "events": Event.values})
