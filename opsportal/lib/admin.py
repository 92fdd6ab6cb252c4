"""Admin building blocks shared by the apps."""

from django.contrib import admin
from django.db import models
from django.utils import timezone

from opsportal.lib.jsonlimits import BoundedJSONField
from opsportal.lib.timefmt import time_html

# Every admin form's JSON field parses with a size and nesting cap (a form error, not a RecursionError's 500).
JSON_FIELDS_BOUNDED = {models.JSONField: {"form_class": BoundedJSONField}}


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that change only through the jobs and the portal's own actions (or never, like an audit)."""

    show_full_result_count = False
    # Django's opt-in facet counts cost a COUNT per filter choice: ~1.3 s and 19 queries at 100k plannings.
    show_facets = admin.ShowFacets.NEVER

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def time_column(path: str, *, description: str, ordering: str | None = None):
    """A change-list column for the datetime at ``path`` (``field`` or ``relation__field``), in the
    portal's one date format: relative, with the exact UTC time on hover. A missing relation is "—"."""

    def column(self, obj):
        value = obj
        for part in path.split("__"):
            # A missing one-to-one row raises RelatedObjectDoesNotExist, an AttributeError: "—".
            value = getattr(value, part, None) if value is not None else None
        return time_html(value, timezone.now())

    return admin.display(description=description, ordering=ordering or path)(column)
