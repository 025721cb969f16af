"""``abm-hetero viz``: serve the browser page on 127.0.0.1."""

from __future__ import annotations

import argparse
import importlib.util
import socket

from ..errors import AbmHeteroError


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("solara") is None:
        raise AbmHeteroError("the page needs Solara: pip install 'abm-hetero[viz]'")
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", args.port))
        except OSError:
            raise AbmHeteroError(f"port {args.port} is in use; choose another with --port"
                                 ) from None
    url = f"http://127.0.0.1:{args.port}/"
    print(f"abm-hetero page: {url}  (Ctrl-C to stop)", flush=True)
    from ..viz.serve import serve  # reason: the viz extra may be missing; said in one line above

    serve(args.port, args.allow_hosts)  # this process is the server: stopping it stops the page
    return 0
