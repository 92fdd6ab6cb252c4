"""Tokens in the admin: created with the secret shown once, revocable, never edited or deleted."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from opsportal.api import services
from opsportal.api.models import ApiToken
from opsportal.api.scopes import scope_choices
from opsportal.api.tokens import MANAGE_ALL_PERMISSION, api_token_secret_reveal, token_grant_problems
from opsportal.audit.services import Actor
from opsportal.lib.admin import time_column


class ApiTokenCreateForm(forms.ModelForm):
    """A new token: its scopes are checked against the issuer's rights and the owner's (``tokens.py``).

    ``issuer`` is the admin user filling the form (set by ``ApiTokenAdmin.get_form``). Only an
    issuer with ``opsapi.manage_all_tokens`` gets the owner field; for others the owner is
    themselves, whatever the POST says.
    """

    issuer = None
    scope_choices = forms.MultipleChoiceField(
        choices=scope_choices,  # a callable: the apps register their scopes when they are ready
        widget=forms.CheckboxSelectMultiple,
        label="Scopes",
        help_text="A token never does more than the people who issue and own it, and stops doing what its owner "
        "may no longer do.",
    )

    class Meta:
        model = ApiToken
        fields = ["name", "owner", "expires_at"]

    def clean(self):
        cleaned = super().clean()
        scopes = cleaned.get("scope_choices")
        if scopes and self.issuer is not None:
            owner = cleaned.get("owner") or self.issuer
            problems = token_grant_problems(issuer=self.issuer, owner=owner, scopes=scopes)
            for problem in problems:
                self.add_error("scope_choices" if problem.startswith("The '") else None, problem)
            if problems:  # a token refused is an operator action too: in the audit trail
                name = cleaned.get("name") or ""
                services.token_issue_refused(actor=Actor.portal(self.issuer), name=name, problems=problems)
        return cleaned


REVEAL_KEY = "opsapi.token_to_reveal"


def _may_manage_all(request) -> bool:
    return request.user.has_perm(MANAGE_ALL_PERMISSION)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "owner", "scopes", "created", "expires", "revoked", "last_used"]
    created = time_column("created_at", description="created")
    expires = time_column("expires_at", description="expires")
    revoked = time_column("revoked_at", description="revoked")
    last_used = time_column("last_used_at", description="last used")
    list_filter = ["scopes", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "owner__username", "created_by__username"]
    actions = ["revoke"]
    readonly_fields = [
        "name",
        "owner",
        "created_by",
        "prefix",
        "scopes",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    ]

    def get_queryset(self, request):
        # Without opsapi.manage_all_tokens one sees (and revokes) only the tokens one owns or issued.
        rows = super().get_queryset(request).select_related("owner", "created_by")
        if _may_manage_all(request):
            return rows
        return rows.filter(Q(owner=request.user) | Q(created_by=request.user))

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = type("ApiTokenCreateForm", (ApiTokenCreateForm,), {"issuer": request.user})
        return super().get_form(request, obj, **kwargs)

    def add_view(self, request, form_url="", extra_context=None):
        # A forged POST by someone who may not issue tokens (a Viewer, with a valid CSRF token) is
        # refused as Django would, and is on the record.
        if request.method == "POST" and not self.has_add_permission(request):
            detail = f"issuing tokens needs {self.opts.app_label}.add_{self.opts.model_name}"
            name = request.POST.get("name", "")[:100]
            services.token_issue_refused(actor=Actor.portal(request.user), name=name, problems=[detail])
            raise PermissionDenied(detail)
        return super().add_view(request, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        # The revoke action is offered only to who may revoke; a forged one is refused on the record.
        if (
            request.method == "POST"
            and request.POST.get("action") == "revoke"
            and not self.has_revoke_permission(request)
        ):
            chosen = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
            services.tokens_revoke_refused(
                actor=Actor.portal(request.user),
                targets=chosen,
                detail=f"revoking tokens needs {self.opts.app_label}.delete_{self.opts.model_name}",
            )
            raise PermissionDenied("revoking tokens needs the permission to revoke them")
        return super().changelist_view(request, extra_context)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def get_fields(self, request, obj=None):
        if obj is not None:
            return self.readonly_fields
        if _may_manage_all(request):
            return ["name", "owner", "scope_choices", "expires_at"]
        return ["name", "scope_choices", "expires_at"]  # the owner is the issuer

    def save_model(self, request, obj, form, change):
        if change:
            return  # tokens are immutable; revoke and create a new one instead
        owner = (form.cleaned_data.get("owner") if _may_manage_all(request) else None) or request.user
        issued = services.token_issue(
            actor=Actor.portal(request.user),
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scope_choices"],
            owner=owner,
            created_by=request.user,
            expires_at=form.cleaned_data.get("expires_at"),
        )
        obj.pk = issued.token.pk
        # The secret is shown on the page the form redirects to (``reveal_view``), made there once: the
        # session keeps which token and the hash it was issued with, never a secret.
        request.session[REVEAL_KEY] = {"pk": issued.token.pk, "hash": issued.token.secret_hash}

    def response_add(self, request, obj, post_url_continue=None):
        pending = request.session.get(REVEAL_KEY)
        if not pending or pending.get("pk") != obj.pk:
            return super().response_add(request, obj, post_url_continue)
        return HttpResponseRedirect(reverse("admin:opsapi_apitoken_issued", args=[obj.pk]))

    def get_urls(self):
        reveal = self.admin_site.admin_view(self.reveal_view)  # staff only, never cached
        return [path("<int:pk>/issued/", reveal, name="opsapi_apitoken_issued"), *super().get_urls()]

    def reveal_view(self, request, pk: int):
        """The secret of the token this session just issued, once; a reload shows it no more and issues nothing."""
        pending = request.session.pop(REVEAL_KEY, None)
        issued = None
        if pending and pending.get("pk") == pk:
            issued = api_token_secret_reveal(token_id=pk, issued_hash=pending.get("hash", ""))
        token = issued.token if issued else self.get_queryset(request).filter(pk=pk).first()
        context = {
            **self.admin_site.each_context(request),
            "title": f"Token {token.name} created" if token else "Token",
            "token": token,
            "secret": issued.secret if issued else None,
            "opts": self.opts,
        }
        return TemplateResponse(request, "opsapi/token_issued.html", context)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Never deleted: Django's delete (the bulk action, the row's Delete button) would leave no
        # ``token.revoke`` row and take the restart ledger's token_id with it. Revoke instead.
        return False

    def has_revoke_permission(self, request) -> bool:
        # The model's delete permission (the Operator's ``opsapi.delete_apitoken``) is the right to revoke.
        return request.user.has_perm(f"{self.opts.app_label}.delete_{self.opts.model_name}")

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke(self, request, queryset):
        revoked = services.tokens_revoke(actor=Actor.portal(request.user), tokens_to_revoke=queryset)
        chosen = len(queryset)
        already = f"; {chosen - revoked} already revoked" if chosen != revoked else ""
        self.message_user(request, f"Revoked {revoked} token(s){already}.")
