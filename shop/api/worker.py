"""The gunicorn worker ``shop serve`` runs: gthread, with every error gunicorn answers itself
in the shop's JSON error body instead of gunicorn's HTML page.

gunicorn refuses some requests before the app sees them: a request line over
``--limit-request-line`` (414), too many or too large header fields (431), a request that is
not HTTP (400). Its ``handle_error`` picks the status, logs and writes the access log line;
this worker keeps all of that and replaces only the body it writes (``util.write_error``,
called from nowhere else), so API.md's rule holds: every error answer is JSON.
"""

from __future__ import annotations

import gc
import json
import socket
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

from shop.api.errors import error_body

# gunicorn's own maximum (its default is 4094). The longest search, every filter at its
# longest and percent-encoded at worst, fits below it (tests/test_http_edge.py checks).
LIMIT_REQUEST_LINE = 8190

# What each status gunicorn answers by itself means to a client, as the shared body says it.
_ANSWERS: dict[int, tuple[str, str, dict[str, Any]]] = {
    414: ("invalid", "the URL is too long for the shop to read",
          {"fields": {"url": "is too long"}}),
    431: ("invalid", "the request has too many header fields, or one that is too long",
          {"fields": {"headers": "are too many or too long"}}),
    417: ("invalid", "the Expect header asks for something the shop does not do",
          {"fields": {"Expect": "is not supported"}}),
    403: ("forbidden", "this request is not allowed here", {}),
    501: ("invalid", "the request's transfer coding is not supported",
          {"fields": {"Transfer-Encoding": "is not supported"}}),
}


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``util.write_error`` with the shop's JSON body. ``mesg`` (gunicorn's own
    wording, with bits of the request in it) is logged by gunicorn and not sent."""
    if status_int >= 500 and status_int != 501:
        code, message, details = "internal", "something went wrong on our side", {}
    else:
        code, message, details = _ANSWERS.get(
            status_int, ("invalid", "the request is not valid HTTP", {}))
    body = json.dumps(error_body(code, message, details), separators=(",", ":")).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "X-Content-Type-Options: nosniff\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin-1") + body)


class JsonErrorWorker(ThreadWorker):
    """``--worker-class shop.api.worker.JsonErrorWorker``: gthread, JSON errors."""

    def init_process(self) -> None:
        util.write_error = write_json_error  # this worker process only; see the module doc
        super().init_process()

    def load_wsgi(self) -> None:
        """Load the app, then freeze what loading it allocated (Flask, pydantic's schemas,
        peewee's models, templates: most of the heap, and it lives as long as the worker).
        Python's cyclic collector then stops walking it on every full collection: under
        load those walks were ~9% of a worker's CPU and, holding the GIL, stretched the
        writer queue (issue 19, docs/architecture.md "Server settings")."""
        super().load_wsgi()
        gc.collect()
        gc.freeze()
