"""Alerts: rules over both apps' reads, a grace-timed state machine, notifications through Apprise (issue #14)."""
