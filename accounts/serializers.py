from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from accounts.models import Role, User


def check_password_strength(password: str, user: User, field: str) -> None:
    """Django's AUTH_PASSWORD_VALIDATORS (length, common, numeric, similar to the username); a 400 naming `field`."""
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise serializers.ValidationError({field: list(exc.messages)}) from None


class UserSerializer(serializers.ModelSerializer):
    role = serializers.CharField(source="effective_role", read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "role"]


class UserCreateSerializer(serializers.ModelSerializer):
    password = serializers.CharField(write_only=True, trim_whitespace=False, style={"input_type": "password"})
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = User
        fields = ["id", "username", "password", "role", "email"]
        extra_kwargs = {"email": {"required": False}}

    def validate(self, attrs: dict) -> dict:
        # Here rather than in validate_password: the similarity check needs the username.
        check_password_strength(attrs["password"], User(username=attrs.get("username", "")), "password")
        return attrs


class UserUpdateSerializer(serializers.Serializer):
    """What an admin may change of another account: deactivate (or reactivate) it, set a new password, or
    give it another role (how users of single sign-on without a role claim get theirs)."""

    is_active = serializers.BooleanField(required=False)
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    password = serializers.CharField(required=False, write_only=True, trim_whitespace=False,
                                     style={"input_type": "password"})

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError({"detail": ["Send is_active, password or role."]})
        if "password" in attrs:
            check_password_strength(attrs["password"], self.instance, "password")
        return attrs


class PasswordChangeSerializer(serializers.Serializer):
    old_password = serializers.CharField(write_only=True, trim_whitespace=False, style={"input_type": "password"})
    new_password = serializers.CharField(write_only=True, trim_whitespace=False, style={"input_type": "password"})

    def validate_old_password(self, value: str) -> str:
        if not self.instance.check_password(value):
            raise serializers.ValidationError("This is not your current password.")
        return value

    def validate(self, attrs: dict) -> dict:
        check_password_strength(attrs["new_password"], self.instance, "new_password")
        return attrs
