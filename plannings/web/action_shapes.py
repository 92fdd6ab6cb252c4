"""The bodies and answers of the plannings' and jobs' action endpoints (``plannings.web.action_api``)."""

from __future__ import annotations

from rest_framework import serializers

from plannings import job_controls, operator_actions, policy
from plannings.selectors import STALE_CHOICES

# A script's list of ids, or a filter's maximum, at most this many plannings a request (the
# catalog is about 100,000: a bulk action over all of it is the backfill's job, not a request's).
BULK_MAX = 10_000


class PlanningFilterBody(serializers.Serializer):
    """The filters of ``GET plannings``, in a JSON body; every one given must hold."""

    host = serializers.CharField(required=False, max_length=255, help_text="the school slug")
    disabled = serializers.BooleanField(required=False, allow_null=True, default=None)
    failure = serializers.CharField(
        required=False, max_length=64, help_text=f"a last failure's kind ('{policy.ANY_FAILURE}': any)"
    )
    stale = serializers.ChoiceField(
        required=False, choices=list(STALE_CHOICES), help_text="yes: stale or missing; due: due for backfill"
    )
    queued = serializers.BooleanField(required=False, allow_null=True, default=None)
    ready = serializers.BooleanField(required=False, allow_null=True, default=None)
    locked = serializers.BooleanField(required=False, allow_null=True, default=None)
    search = serializers.CharField(required=False, max_length=255, help_text="in the full id or the title")

    def to_internal_value(self, data):
        # A misspelt filter ignored would widen the selection to what the others match: refused instead.
        if isinstance(data, dict) and (unknown := sorted(set(data) - set(self.fields))):
            raise serializers.ValidationError(f"unknown filters {unknown}; known: {sorted(self.fields)}")
        return super().to_internal_value(data)


class BulkBody(serializers.Serializer):
    action = serializers.ChoiceField(choices=list(operator_actions.ACTIONS))
    ids = serializers.ListField(
        child=serializers.CharField(max_length=255),
        required=False,
        min_length=1,
        max_length=BULK_MAX,
        help_text="the plannings' full ids; or give `filter` and `max`",
    )
    filter = PlanningFilterBody(required=False, help_text="instead of `ids`: the plannings it matches")
    max = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=BULK_MAX,
        help_text="with `filter`: how many plannings at most; a filter matching more is refused whole (400 too_many)",
    )

    def validate(self, data):
        if ("ids" in data) == ("filter" in data):
            raise serializers.ValidationError({"ids": "give either ids or filter (with max)"})
        if "filter" in data and "max" not in data:
            raise serializers.ValidationError({"max": "required with filter"})
        return data


class SkippedSerializer(serializers.Serializer):
    planning = serializers.CharField(source="planning_full_id")
    reason = serializers.ChoiceField(choices=list(operator_actions.SKIP_REASONS))
    detail = serializers.CharField(source="why")


class OperatorOutcomeSerializer(serializers.Serializer):
    action = serializers.CharField(help_text="the audit trail's name of the action")
    changed = serializers.ListField(child=serializers.CharField(), help_text="the plannings it changed")
    skipped = SkippedSerializer(many=True, help_text="the plannings it left as they were, and why")


class JobsOutcomeSerializer(serializers.Serializer):
    action = serializers.ChoiceField(
        choices=["jobs.pause", "jobs.resume", job_controls.AUDIT_RUN_BACKFILL, job_controls.AUDIT_RUN_DRAIN]
    )
    changed = serializers.BooleanField(help_text="false: the switch was already so")
    paused = serializers.BooleanField(help_text="the switch after the call")
    detail = serializers.CharField()


class QueueRowSerializer(serializers.Serializer):
    priority = serializers.IntegerField()
    attempts = serializers.IntegerField()
    requested_at = serializers.DateTimeField()
    next_attempt_at = serializers.DateTimeField()
    locked_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_null=True)


class PlanningRowSerializer(serializers.Serializer):
    full_id = serializers.CharField()
    title = serializers.CharField()
    host = serializers.CharField(source="planning_id")
    disabled_until = serializers.DateTimeField(allow_null=True)
    consecutive_failures = serializers.IntegerField()
    last_failure = serializers.CharField(allow_null=True, help_text="as the `failure` filter names it")
    last_success_at = serializers.DateTimeField(allow_null=True)
    backup_updated_at = serializers.DateTimeField(allow_null=True)
    queue = QueueRowSerializer(allow_null=True, help_text="its refresh queue row; null: not queued")
