"""Single sign-on with OpenID Connect, on mozilla-django-oidc (settings "Single sign-on", docs/sso.md).

The library runs the protocol: the authorization code flow with state, nonce and PKCE, the token
exchange, the ID token's signature (RS256, the provider's JWKS) and the userinfo call. What is ours:
- the provider's endpoints, from the settings or from its discovery document, fetched once at the
  first use (never when settings load) and kept per issuer;
- the ID token must name this client (`aud`) and, with an issuer configured, that issuer (`iss`);
- who the person is: the account linked to (issuer, sub) (accounts.models.OidcIdentity); else, with
  HITL_OIDC_LINK_BY_EMAIL, the one active account with that verified address; else a new account
  named from `preferred_username`, the email or the sub (made unique);
- the role: from HITL_OIDC_ROLE_CLAIM at every login when it is configured, else the default role for
  a new account and never a change to an existing one (an admin sets it on the users page);
- a deactivated account is refused, and every login, new account, link and refusal is audited.
Everything is inert while SSO is not configured: the backend answers None and the views 404.
"""
from __future__ import annotations

import logging
import re
import threading

import jwt
import requests
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core import checks
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.db import IntegrityError, transaction
from django.http import Http404, HttpResponseRedirect
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts.models import OidcIdentity, Role, User
from audit import trail

log = logging.getLogger(__name__)

# mozilla-django-oidc's endpoint settings and their names in a discovery document.
ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}
# Highest first: when a claim maps to several roles, the first of these wins.
ROLE_ORDER = [Role.ADMIN, Role.ML_ENGINEER, Role.REVIEWER, Role.ANNOTATOR]

_discovered: dict[str, dict] = {}
_discovery_lock = threading.Lock()


class ProviderUnavailable(Exception):
    """The provider's discovery document could not be read."""


def enabled() -> bool:
    """SSO is configured: a client, and an issuer or every endpoint."""
    if not (settings.OIDC_RP_CLIENT_ID and settings.OIDC_RP_CLIENT_SECRET):
        return False
    return bool(settings.HITL_OIDC_ISSUER) or all(getattr(settings, name, "") for name in ENDPOINTS)


def login_context() -> dict:
    """What the login page needs for its "Log in with ..." button."""
    return {"sso_name": settings.HITL_OIDC_PROVIDER_NAME} if enabled() else {}


def discovery(issuer: str) -> dict:
    """The issuer's /.well-known/openid-configuration, fetched once (a failure is not kept: tried again)."""
    with _discovery_lock:
        if issuer not in _discovered:
            url = f"{issuer}/.well-known/openid-configuration"
            try:
                response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
                response.raise_for_status()
                document = response.json()
            except (requests.RequestException, ValueError) as exc:
                raise ProviderUnavailable(f"{url}: {exc}") from exc
            if str(document.get("issuer", "")).rstrip("/") != issuer:
                raise ProviderUnavailable(f"{url} names another issuer: {document.get('issuer')!r}")
            _discovered[issuer] = document
        return _discovered[issuer]


def oidc_setting(attr: str, *default):
    """mozilla-django-oidc's settings, with the endpoints not set explicitly taken from discovery."""
    if attr in ENDPOINTS:
        explicit = getattr(settings, attr, "")
        if explicit or not settings.HITL_OIDC_ISSUER:
            return explicit
        value = discovery(settings.HITL_OIDC_ISSUER).get(ENDPOINTS[attr])
        if not value:
            raise ProviderUnavailable(f"the provider's discovery document has no {ENDPOINTS[attr]}")
        return value
    return import_from_settings(attr, *default)


def role_map() -> dict[str, str]:
    mapping = dict(settings.HITL_OIDC_ROLE_MAP)
    bad = {value for value in mapping.values() if value not in Role.values}
    if bad:
        raise ImproperlyConfigured(f"HITL_OIDC_ROLE_MAP names unknown roles {sorted(bad)}; roles: {Role.values}")
    return mapping


def default_role() -> str:
    role = settings.HITL_OIDC_DEFAULT_ROLE
    if role not in Role.values:
        raise ImproperlyConfigured(f"HITL_OIDC_DEFAULT_ROLE={role!r} is not a role; roles: {Role.values}")
    return role


def role_from_claims(claims: dict) -> str | None:
    """The role the configured claim gives (the highest mapped one), the default role when none of its
    values maps, None when no claim is configured."""
    name = settings.HITL_OIDC_ROLE_CLAIM
    if not name:
        return None
    raw = claims.get(name)
    values = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, list | tuple) else []
    mapping = role_map() or {role: role for role in Role.values}
    mapped = {mapping[value] for value in values if isinstance(value, str) and value in mapping}
    for role in ROLE_ORDER:
        if role in mapped:
            return role
    return default_role()


@checks.register(checks.Tags.security)
def check_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """`manage.py check` (and every server start) names a wrong role in the SSO settings."""
    errors = []
    for reader, setting in ((role_map, "HITL_OIDC_ROLE_MAP"), (default_role, "HITL_OIDC_DEFAULT_ROLE")):
        try:
            reader()
        except ImproperlyConfigured as exc:
            errors.append(checks.Error(str(exc), id=f"hitl.sso.{setting}"))
    return errors


_NOT_IN_USERNAME = re.compile(r"[^\w.@+-]")


def unique_username(claims: dict) -> str:
    """`preferred_username`, else the email, else the sub; made valid and unused (name, name-2, ...)."""
    wanted = next((str(claims[key]) for key in ("preferred_username", "email", "sub") if claims.get(key)), "user")
    base = _NOT_IN_USERNAME.sub("_", wanted).strip()[:140] or "user"
    name, n = base, 1
    while User.objects.filter(username__iexact=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


class Backend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, configured lazily, with our matching, creation and roles."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args, **kwargs):
        # Django makes a backend for every login and every request's session user: the endpoints are
        # resolved (maybe by discovery) only when an SSO login really happens, in `authenticate`.
        self.UserModel = User

    def authenticate(self, request, **kwargs):
        if request is None or "nonce" not in kwargs or "password" in kwargs or not enabled():
            return None  # a password login, or SSO is off
        try:
            self.OIDC_OP_TOKEN_ENDPOINT = self.get_settings("OIDC_OP_TOKEN_ENDPOINT")
            self.OIDC_OP_USER_ENDPOINT = self.get_settings("OIDC_OP_USER_ENDPOINT")
            self.OIDC_OP_JWKS_ENDPOINT = self.get_settings("OIDC_OP_JWKS_ENDPOINT")
            self.OIDC_RP_CLIENT_ID = self.get_settings("OIDC_RP_CLIENT_ID")
            self.OIDC_RP_CLIENT_SECRET = self.get_settings("OIDC_RP_CLIENT_SECRET")
            self.OIDC_RP_SIGN_ALGO = self.get_settings("OIDC_RP_SIGN_ALGO", "RS256")
            self.OIDC_RP_IDP_SIGN_KEY = self.get_settings("OIDC_RP_IDP_SIGN_KEY", None)
            return super().authenticate(request, **kwargs)
        except (ProviderUnavailable, requests.RequestException) as exc:
            log.warning("single sign-on failed: the provider did not answer as expected: %s", exc)
            return None

    def get_user(self, user_id):
        # Django's own check (an inactive account has no session), not the library's bare lookup.
        return ModelBackend.get_user(self, user_id)

    def retrieve_matching_jwk(self, token):
        header = jwt.get_unverified_header(token)
        if "kid" in header:
            return super().retrieve_matching_jwk(token)
        # An ID token that names no key (some small providers): the provider must have one signing key for
        # the token's algorithm, and that key checks the signature (the library needs a key id otherwise).
        response = requests.get(self.OIDC_OP_JWKS_ENDPOINT, verify=self.get_settings("OIDC_VERIFY_SSL", True),
                                timeout=self.get_settings("OIDC_TIMEOUT", None))
        response.raise_for_status()
        keys = [key for key in response.json().get("keys", [])
                if key.get("alg", header.get("alg")) == header.get("alg") and key.get("use", "sig") == "sig"]
        if len(keys) != 1:
            raise SuspiciousOperation("The ID token names no key (kid) and the provider has several.")
        return jwt.PyJWK(keys[0])

    def verify_claims(self, claims) -> bool:
        return bool(claims.get("sub"))

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        issuer = self._check_id_token(payload)
        sub = str(payload["sub"])
        if str(claims.get("sub", sub)) != sub:
            raise SuspiciousOperation("The userinfo answer is about another subject than the ID token.")
        claims = {**payload, **claims}

        identity = OidcIdentity.objects.select_related("user").filter(issuer=issuer, sub=sub).first()
        user = identity.user if identity else None
        linked = False
        if user is None and settings.HITL_OIDC_LINK_BY_EMAIL:
            user = self._by_email(claims)
            linked = user is not None
        if user is not None and not user.is_active:
            trail.record("user.sso_refused", user=user, reason="deactivated", issuer=issuer, sub=sub)
            log.info("single sign-on refused for deactivated account %s", user.username)
            return None
        if user is None:
            if not self.get_settings("OIDC_CREATE_USER", True):
                trail.record("user.sso_refused", reason="no_account", issuer=issuer, sub=sub)
                return None
            return self._create(claims, issuer, sub)
        with transaction.atomic():
            if linked:
                OidcIdentity.objects.create(user=user, issuer=issuer, sub=sub)
                trail.record("user.sso_linked", user=user, changed=user.pk, issuer=issuer, sub=sub, by="email")
            self._update(user, claims)
            trail.record("user.sso_login", user=user, issuer=issuer, sub=sub)
        return user

    def _check_id_token(self, payload: dict) -> str:
        """The ID token is for this client and from the configured issuer (the library checks neither)."""
        audience = payload.get("aud")
        audiences = [audience] if isinstance(audience, str) else list(audience or [])
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("The ID token is not meant for this client (aud).")
        issuer = str(payload.get("iss") or "").rstrip("/")
        configured = settings.HITL_OIDC_ISSUER
        if configured and issuer != configured:
            raise SuspiciousOperation(f"The ID token comes from another issuer: {issuer!r}.")
        if not payload.get("sub") or not (issuer or configured):
            raise SuspiciousOperation("The ID token names no subject or issuer.")
        return issuer or configured

    def _by_email(self, claims: dict) -> User | None:
        email = claims.get("email")
        if not email or claims.get("email_verified") is False:
            return None
        matches = list(User.objects.filter(email__iexact=email)[:2])
        return matches[0] if len(matches) == 1 else None

    def _create(self, claims: dict, issuer: str, sub: str) -> User | None:
        role = role_from_claims(claims) or default_role()
        for _attempt in range(3):
            try:
                with transaction.atomic():
                    user = User.objects.create_user(
                        username=unique_username(claims), email=claims.get("email") or "",
                        first_name=str(claims.get("given_name") or "")[:150],
                        last_name=str(claims.get("family_name") or "")[:150],
                        role=role, is_staff=(role == Role.ADMIN))  # no password: this account logs in by SSO
                    OidcIdentity.objects.create(user=user, issuer=issuer, sub=sub)
                    trail.record("user.created", created=user.pk, role=role, via="sso", issuer=issuer, sub=sub)
                    trail.record("user.sso_login", user=user, issuer=issuer, sub=sub)
                return user
            except IntegrityError:  # the same name, or the same person, at the same moment: look again
                identity = OidcIdentity.objects.select_related("user").filter(issuer=issuer, sub=sub).first()
                if identity is not None:
                    return identity.user if identity.user.is_active else None
        return None

    def _update(self, user: User, claims: dict) -> None:
        """A configured role claim decides the role at every login; without one the role is the admin's."""
        role = role_from_claims(claims)
        if role is None or user.is_superuser or role == user.role:
            return
        before = user.role
        user.role = role
        user.is_staff = role == Role.ADMIN
        user.save(update_fields=["role", "is_staff"])
        trail.record("user.role_changed", changed=user.pk, role_before=before, role=role, via="sso_claim")


class AuthenticateView(OIDCAuthenticationRequestView):
    """GET /oidc/authenticate/: off to the provider (404 while SSO is not configured)."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args, **kwargs):
        # The library reads the endpoint here; ours may need discovery, so it is read in `get`.
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)

    def get(self, request):
        if not enabled():
            raise Http404("Single sign-on is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = self.get_settings("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except ProviderUnavailable as exc:
            log.warning("single sign-on unavailable: %s", exc)
            return HttpResponseRedirect("/login/?sso=unavailable")
        self.OIDC_RP_CLIENT_ID = self.get_settings("OIDC_RP_CLIENT_ID")
        return super().get(request)


class CallbackView(OIDCAuthenticationCallbackView):
    """GET /oidc/callback/: the provider sends the browser back here (404 while SSO is not configured)."""

    get_settings = staticmethod(oidc_setting)

    def get(self, request):
        if not enabled():
            raise Http404("Single sign-on is not configured.")
        return super().get(request)
