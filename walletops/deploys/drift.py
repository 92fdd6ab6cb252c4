"""Drift: which version each host runs, per role (filled in step 4)."""
