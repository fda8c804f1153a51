"""A real ``shop serve`` (gunicorn) on 127.0.0.1, for HTTP tests and benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# How long a server may take to answer /healthz: a bound, not a wait (the loop ends at the
# first answer). `shop serve` boots in about 7 s on a 2-core box at load 6 (migrating a new
# file, then two workers importing the app); the bound was ~30 s, a margin of 4 that CI's
# two passes side by side, with gunicorns and chromium of their own, can eat.
BOOT_SECONDS = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_shop(db_path: Path, *, workers: int = 2, threads: int = 8,
                 extra: tuple[str, ...] = (), env: dict[str, str] | None = None,
                 prefix: tuple[str, ...] = ()) -> Iterator[str]:
    """Start ``shop serve`` on a free loopback port; yield its base URL; stop it after.
    ``prefix``: a command it runs under (e.g. ``setpriv`` dropping capabilities)."""
    port = free_port()
    shop = Path(sys.executable).with_name("shop")
    # The server's log goes to a file, never a pipe nobody reads: a full pipe (the
    # development mailer logs every mail) would block the workers mid-request.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [*prefix, str(shop), "--database", str(db_path), "serve", "--bind",
             f"127.0.0.1:{port}",
             "--workers", str(workers), "--threads", str(threads), *extra],
            stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,  # its own group
            env={**os.environ, **(env or {})})
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + BOOT_SECONDS
            while True:
                try:
                    with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    if proc.poll() is not None:
                        log.seek(0)
                        raise RuntimeError("shop serve exited: "
                                           + log.read().decode(errors="replace")) from None
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"gunicorn did not start in {BOOT_SECONDS} s"
                                           ) from None
                    time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=30)
