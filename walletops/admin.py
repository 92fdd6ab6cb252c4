"""Tokens (created with the secret shown once, revocable) and the read-only restart audit trail."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils import timezone

from opsportal.admin import ReadOnlyAdmin
from walletops.models import ApiToken, RestartAudit
from walletops.tokens import api_token_create, api_token_revoke


class ApiTokenCreateForm(forms.ModelForm):
    scope_choices = forms.MultipleChoiceField(
        choices=[(scope, scope) for scope in ApiToken.SCOPES], widget=forms.CheckboxSelectMultiple, label="Scopes"
    )

    class Meta:
        model = ApiToken
        fields = ["name", "owner", "expires_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "owner", "scopes", "created_at", "expires_at", "revoked_at", "last_used_at"]
    list_filter = ["scopes", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "owner__username"]
    actions = ["revoke"]
    readonly_fields = ["name", "owner", "prefix", "scopes", "created_at", "expires_at", "revoked_at", "last_used_at"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenCreateForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def get_fields(self, request, obj=None):
        return ["name", "owner", "scope_choices", "expires_at"] if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return  # tokens are immutable; revoke and create a new one instead
        issued = api_token_create(
            name=form.cleaned_data["name"], scopes=form.cleaned_data["scope_choices"],
            owner=form.cleaned_data.get("owner") or request.user, expires_at=form.cleaned_data.get("expires_at"),
        )  # fmt: skip
        obj.pk = issued.token.pk
        # Kept on this request only: shown by response_add, never stored (a flash message would
        # put it in the session or a cookie).
        request.issued_token_secret = issued.secret

    def response_add(self, request, obj, post_url_continue=None):
        secret = getattr(request, "issued_token_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        context = {**self.admin_site.each_context(request), "title": f"Token {obj.name} created", "token": obj,
                   "secret": secret, "opts": self.opts}  # fmt: skip
        return TemplateResponse(request, "walletops/token_issued.html", context)

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke selected tokens", permissions=["delete"])
    def revoke(self, request, queryset):
        now = timezone.now()
        for token in queryset:
            api_token_revoke(token=token, now=now)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")


@admin.register(RestartAudit)
class RestartAuditAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "container", "env", "outcome", "actor", "token_name", "duration_ms", "detail"]
    list_filter = ["outcome", "env"]
    search_fields = ["container", "actor", "token_name"]
