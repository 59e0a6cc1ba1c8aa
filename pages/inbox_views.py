"""The inbox page: the feedback reviewers left on the caller's rejected annotations (static/js/inbox.js)."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from accounts import permissions


@login_required
def inbox_page(request):
    """People who label see their feedback; the list comes from /api/inbox/."""
    if not request.user.has_role(*permissions.LABEL):
        raise PermissionDenied(f"Your role ({request.user.effective_role}) has no inbox: it does not label.")
    return render(request, "inbox.html", {})
