"""One audit trail for every operator action, whatever way it came (portal, API, command line)."""
