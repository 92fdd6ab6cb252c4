"""HTTP for this app: DRF views, serializers, auth, URL patterns and portal pages. The only importers of
rest_framework and drf_spectacular (import-linter keeps it so)."""
