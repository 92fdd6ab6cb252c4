"""The project's REST API kit, below the apps: Bearer tokens (model, issue, use), scopes the apps register,
the base view (auth, scope check, bounded JSON, content negotiation), the one error shape, parameter
helpers and OpenAPI pieces. It imports no app (``pyproject.toml``); the apps and the portal build on it."""
