"""The alerts in the portal: rules (thresholds editable), the Alerts page (open first, history, each
notification's delivery; acknowledge and mute presets on an alert's page), channels (URLs masked, a
"Send test" button), mutes and maintenance windows (audited)."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from opsportal.alerts.delivery import ChannelTestRefused, channel_test_send, channel_url_problem, channel_url_shown
from opsportal.alerts.models import LIST_ORDER, Alert, Channel, MaintenanceWindow, Mute, Notification, Rule
from opsportal.alerts.services import (
    MUTE_PRESETS,
    AlertActionForbidden,
    AlertActionRefused,
    alert_acknowledge,
    alert_mute_preset,
    alert_unacknowledge,
    channel_saved,
    maintenance_window_delete,
    maintenance_window_refused,
    maintenance_window_save,
    mute_create,
    mute_delete,
)
from opsportal.audit.refusals import RefusalsAudited
from opsportal.audit.services import Actor
from opsportal.lib.admin import JSON_FIELDS_BOUNDED, CappedCountPaginator, ReadOnlyAdmin
from opsportal.lib.timefmt import time_html


@admin.register(Rule)
class RuleAdmin(RefusalsAudited, admin.ModelAdmin):
    # Short headers and one threshold a line: the long field names and the JSON on one line cut Enabled at 1280 px.
    list_display = ["name", "kind", "target", "thresholds_shown", "grace_shown", "reminder_shown", "enabled"]
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

    @admin.display(description="thresholds")
    def thresholds_shown(self, obj: Rule) -> str:
        given = {key: obj.threshold(key) for key in Rule.THRESHOLDS.get(obj.kind, {})}
        if not given:
            return "—"
        return format_html_join(mark_safe("<br>"), "{} {}", given.items())

    @admin.display(description="grace", ordering="grace_evaluations")
    def grace_shown(self, obj: Rule) -> str:
        return f"{obj.grace_evaluations} passes, {obj.grace_seconds} s"

    @admin.display(description="reminder", ordering="reminder_seconds")
    def reminder_shown(self, obj: Rule) -> str:
        return f"{obj.reminder_seconds} s" if obj.reminder_seconds else "none"

    def has_delete_permission(self, request, obj=None):
        # Switched off (``enabled``), never deleted: a delete would take the rule's alerts, their
        # notifications and its mutes with it, with no row in the audit trail.
        return False


class NotificationInline(admin.TabularInline):
    """The notifications listing the alert (a group's notification shows on each of its alerts)."""

    model = Notification.alerts.through
    verbose_name, verbose_name_plural = "notification", "notifications"
    fields = readonly_fields = ["created", "kind", "title", "channel", "status", "attempts", "sent", "last_error"]
    extra = 0
    can_delete = False
    ordering = ["notification__created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("notification__channel")

    def has_add_permission(self, request, obj=None):
        return False

    def created(self, row) -> str:
        return row.notification.created_at

    def kind(self, row) -> str:
        return row.notification.kind

    def title(self, row) -> str:
        return row.notification.title

    def channel(self, row) -> str:
        return row.notification.channel.name

    def status(self, row) -> str:
        return row.notification.get_status_display()

    def attempts(self, row) -> int:
        return row.notification.attempts

    def sent(self, row):
        return row.notification.sent_at

    def last_error(self, row) -> str:
        return row.notification.last_error


@admin.register(Alert)
class AlertAdmin(RefusalsAudited, ReadOnlyAdmin):
    """The Alerts page: open alerts first (alerting, then pending), then the history, newest first."""

    # Flapping and held are told in the state's cell, the three times of the episode share one cell, and
    # times are relative (exact on hover): twelve columns did not fit 1280 px, the last five were cut.
    list_display = [
        "state_shown",
        "rule",
        "target",
        "message",
        "acknowledged_shown",
        "times_shown",
        "evaluated_shown",
    ]
    list_filter = ["is_open", "state", ("acknowledged_at", admin.EmptyFieldListFilter), "flapping", "rule"]
    search_fields = ["target", "message"]
    list_select_related = ["rule"]
    # The change list orders by this (or the model's ordering), never by get_queryset's order_by: an
    # order_by there was replaced by Meta.ordering, which knew no state, hence pending, alerting, pending.
    ordering = LIST_ORDER
    # The history is a million closed alerts: the count stops at the cap ("more than 10000"), not at the end.
    paginator = CappedCountPaginator
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
        "acknowledged_shown",
        "mute_links",
    ]
    readonly_fields = ["acknowledged_shown", "mute_links"]
    inlines = [NotificationInline]
    change_form_template = "alerts/alert_change_form.html"

    @admin.display(description="acknowledged", ordering="acknowledged_at")
    def acknowledged_shown(self, obj: Alert) -> str:
        if not obj.acknowledged:
            return "—"
        return format_html(
            '<span class="ops-acknowledged">acknowledged by {}</span> {}{}',
            obj.acknowledged_by,
            time_html(obj.acknowledged_at, timezone.now()),
            f": {obj.ack_comment}" if obj.ack_comment else "",
        )

    def get_urls(self):
        def view(method):
            return self.admin_site.admin_view(method)

        return [
            path("<int:pk>/acknowledge/", view(self.acknowledge_view), name="alerts_alert_acknowledge"),
            path("<int:pk>/unacknowledge/", view(self.unacknowledge_view), name="alerts_alert_unacknowledge"),
            path("<int:pk>/mute/", view(self.mute_view), name="alerts_alert_mute"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        user = request.user
        extra = {
            "may_acknowledge": user.has_perm("alerts.acknowledge_alert"),
            "may_mute": user.has_perm("alerts.add_mute"),
            "mute_presets": [(key, f"{hours} h" if hours else "until resolved") for key, hours in MUTE_PRESETS.items()],
        }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def _alert_action(self, request, pk: int, *, run) -> HttpResponseRedirect:
        """POST only (CSRF checked by the admin view); a user the service refuses gets a 403 (the
        service records the refusal like the action would have been)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        alert = get_object_or_404(Alert.objects.select_related("rule"), pk=pk)
        # The service decides the permission and records every refusal; the page translates.
        try:
            message = run(Actor.portal(request.user), alert)
        except AlertActionForbidden:
            raise PermissionDenied from None
        except AlertActionRefused as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, message, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:alerts_alert_change", args=[pk]))

    def acknowledge_view(self, request, pk: int):
        def run(actor, alert):
            alert_acknowledge(actor=actor, alert=alert, comment=request.POST.get("comment", ""))
            return "Acknowledged: reminders stop until it resolves or the acknowledgement is taken back."

        return self._alert_action(request, pk, run=run)

    def unacknowledge_view(self, request, pk: int):
        def run(actor, alert):
            alert_unacknowledge(actor=actor, alert=alert)
            return "Acknowledgement taken back: reminders resume."

        return self._alert_action(request, pk, run=run)

    def mute_view(self, request, pk: int):
        def run(actor, alert):
            mute = alert_mute_preset(actor=actor, alert=alert, preset=request.POST.get("preset", ""))
            if mute.alert_id:
                return f"Muted {alert.rule.name} for {alert.target} until it resolves."
            return f"Muted {alert.rule.name} for {alert.target} until {mute.until:%Y-%m-%d %H:%M} UTC."

        return self._alert_action(request, pk, run=run)

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

    @admin.display(description="state", ordering="state")
    def state_shown(self, obj: Alert) -> str:
        flags = [flag for flag, on in (("flapping", obj.flapping), ("held", obj.held)) if on]
        return f"{obj.state} ({', '.join(flags)})" if flags else obj.state

    @admin.display(description="started / fired / resolved", ordering="started_at")
    def times_shown(self, obj: Alert) -> str:
        now = timezone.now()
        lines = [(label, moment) for label, moment in (("started", obj.started_at), ("fired", obj.fired_at),
                 ("resolved", obj.resolved_at)) if moment]  # fmt: skip
        return format_html_join(mark_safe("<br>"), "{} {}", ((label, time_html(at, now)) for label, at in lines))

    @admin.display(description="evaluated", ordering="last_evaluated_at")
    def evaluated_shown(self, obj: Alert) -> str:
        return time_html(obj.last_evaluated_at, timezone.now())


@admin.register(Notification)
class NotificationAdmin(RefusalsAudited, ReadOnlyAdmin):
    # Relative times, the delivery's two times in one cell: with its filters beside it, the list fits.
    list_display = ["created_shown", "kind", "title", "channel", "status", "attempts", "delivery_shown", "last_error"]
    list_filter = ["status", "kind", "channel"]
    list_select_related = ["channel"]
    fields = [
        "created_at",
        "kind",
        "title",
        "channel",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
        "alert",
        "body",
    ]

    @admin.display(description="created", ordering="created_at")
    def created_shown(self, obj: Notification) -> str:
        return time_html(obj.created_at, timezone.now())

    @admin.display(description="sent / next attempt", ordering="sent_at")
    def delivery_shown(self, obj: Notification) -> str:
        now = timezone.now()
        if obj.sent_at:
            return format_html("sent {}", time_html(obj.sent_at, now))
        if obj.next_attempt_at and obj.status == "pending":
            return format_html("next {}", time_html(obj.next_attempt_at, now))
        return "—"


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
        fields = ["name", "kind", "url", "kinds", "enabled", "send_open_alerts"]

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
class ChannelAdmin(RefusalsAudited, admin.ModelAdmin):
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
            return ["name", "kind", "url", "kinds", "enabled", "send_open_alerts"]
        if not self.has_change_permission(request, obj):
            # A read-only form would show every field's value as text, the URL in clear: only its mask.
            return ["name", "kind", "url_shown", "kinds", "enabled", "send_open_alerts"]
        return ["name", "kind", "url_shown", "url", "kinds", "enabled", "send_open_alerts"]

    def save_model(self, request, obj, form, change):
        was_enabled = Channel.objects.filter(pk=obj.pk).values_list("enabled", flat=True).first() if change else None
        super().save_model(request, obj, form, change)
        if channel_saved(channel=obj, was_enabled=was_enabled):
            self.message_user(request, f"The alerts firing now are queued for {obj.name}.")

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
        channel = get_object_or_404(Channel, pk=pk)
        try:
            row = channel_test_send(actor=Actor.portal(request.user), channel=channel)
        except ChannelTestRefused:
            raise PermissionDenied from None
        if row.status == Notification.Status.SENT:
            self.message_user(request, f"Test message sent to {channel.name}.", messages.SUCCESS)
        else:
            self.message_user(request, f"Test to {channel.name} failed: {row.last_error}", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:alerts_channel_change", args=[pk]))


class MuteForm(forms.ModelForm):
    """``until`` comes filled in (now + OPSPORTAL_ALERTS_MUTE_DEFAULT_HOURS); a preset, when chosen, wins."""

    FOR = {"": "until the time below", **{key: f"for {h} h" for key, h in MUTE_PRESETS.items() if h}}
    duration = forms.ChoiceField(
        choices=list(FOR.items()), required=False, widget=forms.RadioSelect, label="Mute", initial=""
    )

    class Meta:
        model = Mute
        fields = ["rule", "target", "duration", "until", "reason"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["until"].required = False

    def clean(self):
        data = super().clean()
        if hours := MUTE_PRESETS.get(data.get("duration") or ""):
            data["until"] = timezone.now() + timedelta(hours=hours)
        elif not data.get("until"):
            self.add_error("until", "Required, or choose a duration.")
        return data


@admin.register(Mute)
class MuteAdmin(RefusalsAudited, admin.ModelAdmin):
    refused_names = {"create": "alerts.mute", "delete": "alerts.unmute", "delete_selected": "alerts.unmute"}

    form = MuteForm
    list_display = ["rule", "target", "until_shown", "reason", "created_by", "created_at", "active"]
    fields = ["rule", "target", "duration", "until", "reason"]
    list_select_related = ["rule"]

    @admin.display(boolean=True)
    def active(self, obj: Mute) -> bool:
        return obj.until > timezone.now()

    @admin.display(description="until", ordering="until")
    def until_shown(self, obj: Mute) -> str:
        until = time_html(obj.until, timezone.now())
        return format_html("{} (or when alert #{} resolves)", until, obj.alert_id) if obj.alert_id else until

    def get_changeform_initial_data(self, request):
        hours = settings.OPSPORTAL_ALERTS_MUTE_DEFAULT_HOURS
        return {"until": timezone.now() + timedelta(hours=hours), **super().get_changeform_initial_data(request)}

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


class MaintenanceWindowForm(forms.ModelForm):
    class Meta:
        model = MaintenanceWindow
        fields = [
            "name",
            "reason",
            "rule",
            "target",
            "recurrence",
            "starts_at",
            "ends_at",
            "weekdays",
            "start_time",
            "duration_minutes",
        ]


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(RefusalsAudited, admin.ModelAdmin):
    """Planned work: alerts it covers that start inside it are held and fire only if they outlive it.
    Making, changing and removing one is audited with its schedule and scope before and after; a
    refused attempt is audited too."""

    form = MaintenanceWindowForm
    list_display = ["name", "schedule", "rule", "target", "next_shown", "reason", "created_by"]
    list_select_related = ["rule"]
    list_filter = ["recurrence"]

    @admin.display(description="schedule")
    def schedule(self, obj: MaintenanceWindow) -> str:
        return obj.described().split(": ", 1)[1].split(";")[0]

    @admin.display(description="open / next")
    def next_shown(self, obj: MaintenanceWindow) -> str:
        now = timezone.now()
        span = obj.occurrence(now)
        if span is None:
            return "over"
        if span.starts_at <= now:
            return format_html("<strong>open</strong> until {}", time_html(span.ends_at, now))
        return format_html("from {} to {}", time_html(span.starts_at, now), time_html(span.ends_at, now))

    def _refused(self, request, action: str, object_id) -> None:
        maintenance_window_refused(actor=Actor.portal(request.user), action=action, window_id=object_id)
        raise PermissionDenied

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST":
            if object_id is None and not self.has_add_permission(request):
                self._refused(request, "alerts.maintenance_create", object_id)
            if object_id is not None and not self.has_change_permission(request):
                self._refused(request, "alerts.maintenance_change", object_id)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        if request.method == "POST" and not self.has_delete_permission(request):
            self._refused(request, "alerts.maintenance_delete", object_id)
        return super().delete_view(request, object_id, extra_context)

    def save_model(self, request, obj, form, change):
        before = MaintenanceWindow.objects.get(pk=obj.pk).described() if change else ""
        maintenance_window_save(actor=Actor.portal(request.user), window=obj, before=before)

    def delete_model(self, request, obj):
        maintenance_window_delete(actor=Actor.portal(request.user), window=obj)

    def delete_queryset(self, request, queryset):
        for window in queryset:
            maintenance_window_delete(actor=Actor.portal(request.user), window=window)
