"""The REST API (DESIGN §6): an app factory (:func:`apart.api.app.create_app`), routes
for runs, live events (SSE) and health, one error shape, bearer auth, and the
``apart-server`` entry point (:mod:`apart.api.serve`). Nothing here is imported by
the core."""
