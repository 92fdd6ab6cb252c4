"""The portal: the only code that sees both apps (admin site, dashboard and panels, charts,
the cross-app /queues report and /metrics, error pages by URL prefix)."""
