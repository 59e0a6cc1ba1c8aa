"""Logging in and passwords in the browser, with Django's own views: the login page (and its single sign-on
button when that is configured), change one's own password, set a new one from a reset link (an admin's, or
one mailed by "Forgot your password?"), ask for such a mail. Each change is audited; a new password ends the
account's other sessions and its API tokens (accounts.signals)."""
from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import reverse_lazy

from accounts import oidc
from audit import trail


class Login(auth_views.LoginView):
    """The login form; with single sign-on configured, also a "Log in with ..." button (accounts.oidc)."""

    template_name = "login.html"
    SSO_ERRORS = {
        "failed": "Single sign-on did not log you in. Your account may be deactivated; ask an admin.",
        "unavailable": "The single sign-on provider cannot be reached right now. Try again in a moment.",
    }

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(oidc.login_context())
        context["sso_error"] = self.SSO_ERRORS.get(self.request.GET.get("sso", ""))
        return context


class PasswordChange(auth_views.PasswordChangeView):
    template_name = "password_change.html"
    success_url = reverse_lazy("password-change-done")

    def form_valid(self, form):
        response = super().form_valid(form)
        trail.record("user.password_changed", user=self.request.user, changed=self.request.user.pk)
        return response


class PasswordChangeDone(auth_views.PasswordChangeDoneView):
    template_name = "password_done.html"
    extra_context = {"message": "Your password was changed. Your API token, if you had one, was revoked."}


class PasswordForgot(auth_views.PasswordResetView):
    """Mails a one-time link to the active account with this address (and says the same whether or not
    there is one, so the page tells nobody which addresses have accounts)."""

    template_name = "password_forgot.html"
    email_template_name = "emails/password_reset.txt"
    subject_template_name = "emails/password_reset_subject.txt"
    success_url = reverse_lazy("password-forgot-done")


class PasswordForgotDone(auth_views.PasswordResetDoneView):
    template_name = "password_done.html"
    extra_context = {"message": "If an account has this address, a link to set a new password is on its way. "
                                "No mail? Ask an admin for a reset link."}


class PasswordResetConfirm(auth_views.PasswordResetConfirmView):
    template_name = "password_reset_confirm.html"
    success_url = reverse_lazy("password-reset-complete")

    def form_valid(self, form):
        response = super().form_valid(form)
        trail.record("user.password_reset", user=form.user, changed=form.user.pk)
        return response


class PasswordResetComplete(auth_views.PasswordResetCompleteView):
    template_name = "password_done.html"
    extra_context = {"message": "Your new password is set.", "login_link": True}
