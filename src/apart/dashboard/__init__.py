"""The web dashboard: static HTML, CSS and ES modules served by the API at ``/``.

Nothing is built: the files in ``static/`` are the dashboard, shipped as package
data and read at import time by :mod:`apart.dashboard.routes`. The pages talk to
the REST API of the same server (``/api/v1``) with ``fetch`` -- event streams
included, so a bearer token works everywhere -- and load nothing from elsewhere.
"""

from apart.dashboard.routes import router

__all__ = ["router"]
