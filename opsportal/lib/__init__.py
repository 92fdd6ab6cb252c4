"""Helpers every app may use: they import Django, never an app (import-linter keeps it so)."""
