from __future__ import annotations

from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.signals import user_logged_in
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import password_reset, services
from accounts.models import User
from accounts.serializers import (
    PasswordChangeSerializer,
    UserCreateSerializer,
    UserSerializer,
    UserUpdateSerializer,
)


class IsAdminRole(BasePermission):
    message = "Only admins may do this."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_admin)


class TokenView(ObtainAuthToken):
    """POST: exchange a username and password for an API token. DELETE: revoke the caller's token.

    Failed logins are counted per username and address (django-axes, as on the login page): past the
    limit, the answer is 429 for a while, even for the right password.
    """

    def get_permissions(self):
        return [IsAuthenticated()] if self.request.method == "DELETE" else []

    def perform_authentication(self, request):
        # Asking for a token needs no credentials, and an expired one in the header must not stop it.
        if request.method != "POST":
            super().perform_authentication(request)

    def get_serializer_context(self):
        # Django's request rather than DRF's wrapper: django-axes marks a locked-out login on it,
        # and its middleware turns that mark into the 429 answer.
        return {**super().get_serializer_context(), "request": self.request._request}

    @extend_schema(
        request=inline_serializer("TokenRequest", {"username": serializers.CharField(),
                                                   "password": serializers.CharField()}),
        responses={200: inline_serializer("TokenResponse", {"token": serializers.CharField()}), 429: None},
    )
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        # A login like the login page's: last_login is set and django-axes forgets earlier failures.
        user_logged_in.send(sender=user.__class__, request=request._request, user=user)
        return Response({"token": services.issue_token(user).key})

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, *args, **kwargs):
        services.revoke_token(request.user, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UsersView(generics.ListCreateAPIView):
    """List users or create one with a role (admins only)."""

    permission_classes = [IsAdminRole]
    queryset = User.objects.order_by("id")

    def get_serializer_class(self):
        return UserCreateSerializer if self.request.method == "POST" else UserSerializer

    @extend_schema(responses={201: UserSerializer})
    def post(self, request, *args, **kwargs):
        serializer = UserCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.create_user(**serializer.validated_data, by=request.user)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


UserAdminResponse = inline_serializer("UserAdmin", {**UserSerializer().get_fields(),
                                                    "is_active": serializers.BooleanField()})


class UserDetailView(APIView):
    """Admins deactivate (or reactivate) an account or set its password (either ends its tokens and sessions),
    or change its role."""

    permission_classes = [IsAdminRole]

    @extend_schema(request=UserUpdateSerializer, responses={200: UserAdminResponse})
    def patch(self, request, pk):
        user = get_object_or_404(User, pk=pk)
        serializer = UserUpdateSerializer(user, data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = serializer.validated_data
        if changes.get("is_active") is False and user.pk == request.user.pk:
            raise ValidationError({"is_active": ["You cannot deactivate your own account."]})
        if changes.get("role", user.role) != user.role and user.pk == request.user.pk:
            raise ValidationError({"role": ["You cannot change your own role."]})
        if "password" in changes:
            services.change_password(user, changes["password"], by=request.user)
        if "is_active" in changes and changes["is_active"] != user.is_active:
            services.set_active(user, changes["is_active"], by=request.user)
        if "role" in changes:
            services.set_role(user, changes["role"], by=request.user)
        return Response({**UserSerializer(user).data, "is_active": user.is_active})


class PasswordResetLinkView(APIView):
    """Admins make a one-time link with which a user sets a new password (for one who forgot theirs)."""

    permission_classes = [IsAdminRole]

    @extend_schema(request=None, responses={200: inline_serializer("PasswordResetLink", {
        "link": serializers.URLField(), "valid_hours": serializers.IntegerField()})})
    def post(self, request, pk):
        user = get_object_or_404(User, pk=pk)
        try:
            path, hours = password_reset.issue_reset_link(user, by=request.user)
        except ValueError as exc:
            raise ValidationError({"user": [str(exc)]}) from None
        return Response({"link": request.build_absolute_uri(path), "valid_hours": hours})


class MeView(generics.RetrieveAPIView):
    """The caller's own account."""

    serializer_class = UserSerializer

    def get_object(self):
        return self.request.user


class PasswordView(APIView):
    """Change one's own password. Every token and every other session of the account ends; a browser
    that changed it stays logged in, an API client asks for a new token."""

    @extend_schema(request=PasswordChangeSerializer, responses={204: None})
    def post(self, request):
        serializer = PasswordChangeSerializer(request.user, data=request.data)
        serializer.is_valid(raise_exception=True)
        services.change_password(request.user, serializer.validated_data["new_password"], by=request.user)
        if request.auth is None:  # signed in by session: keep this one
            update_session_auth_hash(request._request, request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
