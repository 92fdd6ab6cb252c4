"""Admin building blocks shared by the apps."""

from collections.abc import Callable

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import models
from django.utils import timezone
from django.utils.functional import cached_property

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


class CappedCountPaginator(Paginator):
    """A change list's paginator that counts at most ``CAP + 1`` rows: its cost stops growing with the table.

    Django's change list counts every matching row to number its pages; with a filter
    such as "in queue" at ten million plannings that count read millions of rows on each
    page view. Past the cap the list says "more than CAP" (the ``pagination.html`` of
    the models that use it) and numbers pages up to the cap; a narrower filter or a search
    reaches the rest. The cap must be above the list's page size, or a capped list would
    think itself one page long.
    """

    CAP = 10_000
    # Set by a ModelAdmin that keeps counts: the exact count of ``object_list`` read from them, or None
    # (this filter's count is not kept: the rows are counted, up to the cap).
    kept_count: Callable[[], int | None] | None = None

    @cached_property
    def count(self) -> int:
        kept = self.kept_count() if self.kept_count is not None else None
        if kept is not None:
            return min(kept, self.CAP + 1)
        # order_by(): the slice is counted in a subquery, without sorting it first; values("pk"): without
        # the columns of the list's joins (PostgreSQL then drops a join that cannot change the count).
        return self.object_list.order_by().values("pk")[: self.CAP + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.CAP


class KeysFirstPaginator(CappedCountPaginator):
    """A capped paginator whose page reads its keys first, then joins the related rows of those keys only.

    One statement still: ``WHERE pk IN (SELECT pk ... ORDER BY ... LIMIT per_page OFFSET k)``.
    Sliced whole, a page filtered through another table (plannings in the refresh queue) was
    planned as merge joins along the related tables' keys: PostgreSQL read every related
    row sorted before the page's first key (~160,000 of 800,000 at 1,000,000 plannings, 1.1 s).
    The inner query reads the page's keys in the list's order through the key's index; the
    outer one joins exactly those keys, in the same order (the change list's ordering is
    total: Django adds the primary key to it).
    """

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        keys = self.object_list.values("pk")[bottom:top]
        return self._get_page(self.object_list.filter(pk__in=keys), number, self)
