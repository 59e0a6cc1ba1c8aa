"""Pages outside the API: home, health, media."""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.static import serve
from rest_framework.views import APIView

from tasks.access import visible_projects


@login_required
def home(request):
    projects = visible_projects(request.user).order_by("id")
    return render(request, "home.html", {"projects": projects})


def healthz(request):
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
    return JsonResponse({"ok": True})


class MediaView(APIView):
    """Uploaded media (images) for signed-in users, by session or API token."""

    schema = None  # not part of the public API

    def get(self, request, path: str):
        return serve(request, path, document_root=settings.MEDIA_ROOT)
