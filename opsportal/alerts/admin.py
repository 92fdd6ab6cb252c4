"""The alerts in the portal: rules (thresholds editable), the Alerts page (open first, history, each
notification's delivery), channels (URLs masked, a "Send test" button), mutes (audited)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode

from opsportal.alerts.delivery import channel_test, channel_url_problem, channel_url_shown
from opsportal.alerts.models import Alert, Channel, Mute, Notification, Rule
from opsportal.alerts.services import mute_create, mute_delete
from opsportal.audit.services import Actor
from opsportal.lib.admin import JSON_FIELDS_BOUNDED, ReadOnlyAdmin


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "target",
        "thresholds",
        "grace_evaluations",
        "grace_seconds",
        "reminder_seconds",
        "enabled",
    ]
    list_filter = ["kind", "enabled"]
    list_editable = ["enabled"]
    formfield_overrides = JSON_FIELDS_BOUNDED
    fields = [
        "name",
        "kind",
        "target",
        "thresholds",
        "grace_evaluations",
        "grace_seconds",
        "reminder_seconds",
        "flap_transitions",
        "flap_window_seconds",
        "enabled",
    ]

    def has_delete_permission(self, request, obj=None):
        # Switched off (``enabled``), never deleted: a delete would take the rule's alerts, their
        # notifications and its mutes with it, with no row in the audit trail.
        return False


class NotificationInline(admin.TabularInline):
    model = Notification
    fields = ["created_at", "kind", "channel", "status", "attempts", "next_attempt_at", "sent_at", "last_error"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["created_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    """The Alerts page: open alerts first (alerting, then pending), then the history, newest first."""

    list_display = [
        "state_shown",
        "rule",
        "target",
        "message",
        "flapping",
        "held",
        "started_at",
        "fired_at",
        "resolved_at",
        "last_evaluated_at",
    ]
    list_filter = ["is_open", "state", "flapping", "rule"]
    search_fields = ["target", "message"]
    list_select_related = ["rule"]
    fields = [
        "rule",
        "target",
        "state",
        "message",
        "flapping",
        "held",
        "started_at",
        "fired_at",
        "resolved_at",
        "last_evaluated_at",
        "mute_links",
    ]
    readonly_fields = ["mute_links"]
    inlines = [NotificationInline]

    @admin.display(description="mute")
    def mute_links(self, obj: Alert) -> str:
        """Links to the mute form, filled in for this rule and target, or for the target under any rule."""
        add = reverse("admin:alerts_mute_add")
        return format_html(
            '<a href="{}?{}">Mute this rule for this target</a> · <a href="{}?{}">Mute this target (every rule)</a>',
            add,
            urlencode({"rule": obj.rule_id, "target": obj.target}),
            add,
            urlencode({"target": obj.target}),
        )

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-is_open", "state", "-started_at")

    @admin.display(description="state", ordering="state")
    def state_shown(self, obj: Alert) -> str:
        return f"{obj.state} (flapping)" if obj.flapping else obj.state


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "kind",
        "title",
        "channel",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
    ]
    list_filter = ["status", "kind", "channel"]
    list_select_related = ["channel"]
    fields = list_display + ["alert", "body"]


KINDS = ("fired", "reminder", "resolved", "deploy")


class ChannelForm(forms.ModelForm):
    """The URL is write-only: a secret once saved, shown masked, kept when left blank on edit."""

    url = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.PasswordInput(render_value=False, attrs={"size": 80, "autocomplete": "off"}),
        help_text=Channel._meta.get_field("url").help_text,
    )

    class Meta:
        model = Channel
        fields = ["name", "kind", "url", "kinds", "enabled"]

    def clean(self):
        data = super().clean()
        url = data.get("url") or (self.instance.url if self.instance.pk else "")
        if not url:
            self.add_error("url", "Required.")
            return data
        if problem := channel_url_problem(kind=data.get("kind") or Channel.Kind.APPRISE, url=url):
            self.add_error("url", problem)
        kinds = {kind.strip() for kind in (data.get("kinds") or "").split(",") if kind.strip()}
        if unknown := kinds - set(KINDS):
            self.add_error("kinds", f"unknown: {', '.join(sorted(unknown))}; known: {', '.join(KINDS)}")
        elif not kinds:
            self.add_error("kinds", f"at least one of {', '.join(KINDS)}")
        data["url"] = url
        return data


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    list_display = ["name", "kind", "url_shown", "kinds", "enabled", "last_delivery"]
    readonly_fields = ["url_shown"]
    change_form_template = "alerts/channel_change_form.html"

    def has_delete_permission(self, request, obj=None):
        # Switched off (``enabled``), never deleted: a delete would take every notification's delivery
        # record sent through the channel with it, with no row in the audit trail.
        return False

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "kind", "url", "kinds", "enabled"]
        if not self.has_change_permission(request, obj):
            # A read-only form would show every field's value as text, the URL in clear: only its mask.
            return ["name", "kind", "url_shown", "kinds", "enabled"]
        return ["name", "kind", "url_shown", "url", "kinds", "enabled"]

    @admin.display(description="URL (masked)")
    def url_shown(self, obj: Channel) -> str:
        return channel_url_shown(obj)

    @admin.display(description="last delivery")
    def last_delivery(self, obj: Channel) -> str:
        last = obj.notifications.exclude(status=Notification.Status.MUTED).order_by("-created_at").first()
        if last is None:
            return "none yet"
        return f"{last.status} ({last.kind}, {timezone.localtime(last.created_at):%Y-%m-%d %H:%M})" + (
            f": {last.last_error[:120]}" if last.last_error else ""
        )

    def get_urls(self):
        test = self.admin_site.admin_view(self.send_test_view)
        return [path("<int:pk>/test/", test, name="alerts_channel_test"), *super().get_urls()]

    def send_test_view(self, request, pk: int):
        """POST only (CSRF checked by the admin view), and only for who may change channels."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        channel = get_object_or_404(Channel, pk=pk)
        row = channel_test(channel=channel)
        if row.status == Notification.Status.SENT:
            self.message_user(request, f"Test message sent to {channel.name}.", messages.SUCCESS)
        else:
            self.message_user(request, f"Test to {channel.name} failed: {row.last_error}", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:alerts_channel_change", args=[pk]))


@admin.register(Mute)
class MuteAdmin(admin.ModelAdmin):
    list_display = ["rule", "target", "until", "reason", "created_by", "created_at", "active"]
    fields = ["rule", "target", "until", "reason"]
    list_select_related = ["rule"]

    @admin.display(boolean=True)
    def active(self, obj: Mute) -> bool:
        return obj.until > timezone.now()

    def has_change_permission(self, request, obj=None):
        return False  # a mute is made or removed, both audited; never edited in place

    def save_model(self, request, obj, form, change):
        saved = mute_create(
            actor=Actor.portal(request.user), rule=obj.rule, target=obj.target, until=obj.until, reason=obj.reason
        )
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        mute_delete(actor=Actor.portal(request.user), mute=obj)

    def delete_queryset(self, request, queryset):
        for mute in queryset:
            mute_delete(actor=Actor.portal(request.user), mute=mute)
