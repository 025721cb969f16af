"""Serve the page: Solara's own server (``solara run``) behind the host and origin guard.

Solara has no setting that limits the hosts or origins it answers, so the guard
(:class:`~abm_hetero.viz.hosts.HostGuard`) is added as middleware to Solara's Starlette app
before ``solara run`` starts it in this process; everything else is ``solara run`` as it is.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from .hosts import LOCAL_HOSTS, HostGuard

APP = "abm_hetero.viz.app"


def serve(port: int, allowed_hosts: Sequence[str] = ()) -> None:
    """Serve the page on ``127.0.0.1:port`` until stopped, answering the hosts of
    :data:`~abm_hetero.viz.hosts.LOCAL_HOSTS` and ``allowed_hosts`` (names checked by
    :func:`~abm_hetero.viz.hosts.allowed_host`)."""
    # Solara reads the app's name when its server module is first imported
    os.environ["SOLARA_APP"] = APP
    from solara.__main__ import cli
    from solara.server.starlette import app

    app.add_middleware(HostGuard, allowed=(*LOCAL_HOSTS, *allowed_hosts))
    cli(["run", APP, "--host", "127.0.0.1", "--port", str(port), "--production", "--no-open"])
