"""Admins manage people in the browser: a project's members, and the users of the platform.

The pages only show; their script (static/js/members.js) makes every change through the REST API, except
a user's role, which the users page changes with a plain form."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from accounts import services
from accounts.models import Role, User
from tasks.models import Membership, Project


def _require_admin(request, action: str) -> None:
    if not request.user.is_admin:
        raise PermissionDenied(f"Only admins {action}.")


@login_required
def members(request, pk: int):
    """A project's members with their roles; admins add and remove them."""
    _require_admin(request, "manage members")
    project = Project.objects.filter(pk=pk).first()
    if project is None:
        raise PermissionDenied("No such project.")
    member_ids = Membership.objects.filter(project=project).values("user_id")
    return render(request, "members.html", {
        "project": project,
        "members": User.objects.filter(id__in=member_ids).order_by("username"),
        "candidates": User.objects.filter(is_active=True).exclude(id__in=member_ids).order_by("username"),
    })


@login_required
@require_http_methods(["GET", "POST"])
def users(request):
    """Every user with role and state; admins create and deactivate accounts, and change a role (the one
    change made by a form post here: users of single sign-on get their roles this way, docs/sso.md)."""
    _require_admin(request, "manage users")
    if request.method == "POST":
        person = get_object_or_404(User, pk=request.POST.get("user") or 0)
        role = request.POST.get("role", "")
        if role not in Role.values:
            return HttpResponseBadRequest("No such role.")
        if person.pk != request.user.pk:  # nobody demotes themselves by a slip
            services.set_role(person, role, by=request.user)
        return redirect("users")
    return render(request, "users.html", {"users": User.objects.order_by("username"), "roles": Role.choices})
