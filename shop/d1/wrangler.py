"""Drive the real, pinned wrangler CLI offline against a local D1 database.

Why: D1 runs SQLite inside workerd with its own authorizer and limits, so the only honest
proof that the exported `sql/d1/` files work is to apply them with the same wrangler that
developers use (`package.json` pins it) and then inspect the result. This module wraps the
few commands the tests need and keeps every file wrangler writes (database, config, logs,
temp files) inside one state directory, so runs are hermetic and parallel-safe.

Facts this relies on (measured with wrangler 4.86.0, see D1.md):
- `CI=true` makes `d1 migrations apply` answer its "continue?" prompt with yes.
- `--config <file>` works from any working directory and an absolute `migrations_dir`
  in that file is used as-is.
- `d1 execute --json` prints a JSON list (one entry per statement, each with `results`)
  on success, and `{"error": {"text": ...}}` on stdout with exit code 1 on failure;
  without `--json` errors go to stderr, coloured with ANSI escapes even when not a tty.
- The database is `<persist>/v3/d1/miniflare-D1DatabaseObject/<hash>.sqlite` (WAL mode),
  next to a `metadata.sqlite` that belongs to the Durable Object runtime, not to D1.
- wrangler reads `.env` / `.env.local` from its working directory, so it runs with the
  state directory as its working directory: a developer's `.env` cannot leak in.

Stdlib only.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
from pathlib import Path

__all__ = [
    "DATABASE_NAME",
    "DEFAULT_TIMEOUT",
    "PLACEHOLDER_DATABASE_ID",
    "Wrangler",
    "WranglerError",
    "WranglerNotInstalledError",
]

DATABASE_NAME = "shop"
PLACEHOLDER_DATABASE_ID = "00000000-0000-0000-0000-000000000000"
DEFAULT_TIMEOUT = 180.0

# Linux caps one argv string at 128 KiB; larger SQL (and SQL with NUL characters, which
# argv cannot carry) goes through --file instead.
_MAX_COMMAND_BYTES = 64 * 1024

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# Variables that could point wrangler at a real Cloudflare account or change its
# behaviour; dropped so a developer's shell cannot turn a local test into a remote call.
_SCRUBBED_PREFIXES = ("CLOUDFLARE_", "CF_", "WRANGLER_", "MINIFLARE_")


class WranglerError(RuntimeError):
    """A wrangler invocation failed; carries what it printed, because that is the reason."""

    def __init__(
        self,
        message: str,
        *,
        args: list[str] | None = None,
        returncode: int | None = None,
        stdout: str = "",
        stderr: str = "",
    ) -> None:
        self.command = list(args or [])
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        details = [message]
        if self.command:
            details.append(f"command: {' '.join(self.command)}")
        if returncode is not None:
            details.append(f"exit code: {returncode}")
        if stdout.strip():
            details.append(f"stdout:\n{stdout.strip()}")
        if stderr.strip():
            details.append(f"stderr:\n{stderr.strip()}")
        super().__init__("\n".join(details))


class WranglerNotInstalledError(WranglerError):
    """node_modules lacks wrangler: the fix is `npm ci`, and the message says so."""


def _strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def _toml_string(value: str) -> str:
    # A TOML basic string accepts JSON's escapes for the characters json.dumps emits.
    return json.dumps(value, ensure_ascii=False)


class Wrangler:
    """One local D1 database named `shop`, driven through the project's pinned wrangler.

    `project_dir` holds package.json and node_modules; `state_dir` is a scratch directory
    (typically pytest's tmp_path) that receives the generated wrangler.toml, the persisted
    database and wrangler's config, logs and temp files. `migrations_dir` defaults to the
    project's `sql/d1`; tests pass a copy or a throwaway directory instead.

    Calls are sequential by design: several wrangler processes on one state directory at
    once make local D1 answer "internal error". Values come back through JSON, so
    integers beyond 2**53 lose precision and BLOBs arrive as a string like "[0, 255]";
    read such values through `connect_readonly()` instead.
    """

    def __init__(
        self,
        project_dir: Path,
        state_dir: Path,
        migrations_dir: Path | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.project_dir = Path(project_dir).resolve()
        self.state_dir = Path(state_dir).resolve()
        self.migrations_dir = (
            Path(migrations_dir).resolve()
            if migrations_dir is not None
            else self.project_dir / "sql" / "d1"
        )
        self.timeout = timeout
        self.executable = self.project_dir / "node_modules" / ".bin" / "wrangler"
        self.persist_dir = self.state_dir / "d1"
        self.config_path = self.state_dir / "wrangler.toml"
        self._home = self.state_dir / "wrangler-home"
        for sub in ("config", "logs", "tmp"):
            (self._home / sub).mkdir(parents=True, exist_ok=True)
        self._write_config()

    # -- setup -------------------------------------------------------------------------

    def _write_config(self) -> None:
        """Write a config of our own so the migrations directory can be anything."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            "# Generated by shop.d1.wrangler for a local, throwaway D1 database.\n"
            "[[d1_databases]]\n"
            'binding = "DB"\n'
            f"database_name = {_toml_string(DATABASE_NAME)}\n"
            f"database_id = {_toml_string(PLACEHOLDER_DATABASE_ID)}\n"
            f"migrations_dir = {_toml_string(str(self.migrations_dir))}\n",
            encoding="utf-8",
        )

    def _env(self) -> dict[str, str]:
        """The offline environment from D1.md: no prompts, metrics, banner or home writes."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(_SCRUBBED_PREFIXES)
        }
        env.update(
            CI="true",
            WRANGLER_SEND_METRICS="false",
            WRANGLER_HIDE_BANNER="true",
            DO_NOT_TRACK="1",
            XDG_CONFIG_HOME=str(self._home / "config"),
            WRANGLER_LOG_PATH=str(self._home / "logs"),
            TMPDIR=str(self._home / "tmp"),
        )
        return env

    def _require_executable(self) -> None:
        if not self.executable.exists():
            raise WranglerNotInstalledError(
                f"wrangler is not installed: {self.executable} is missing. "
                f"Run `npm ci` in {self.project_dir} (package.json pins wrangler)."
            )

    # -- running -----------------------------------------------------------------------

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `wrangler <args> --config <generated toml>`; raise on failure if `check`.

        Output is returned with ANSI colour codes removed, since wrangler colours its
        errors even when writing to a pipe.
        """
        self._require_executable()
        argv = [str(self.executable), *args, "--config", str(self.config_path)]
        try:
            proc = subprocess.run(
                argv,
                cwd=self.state_dir,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise WranglerError(
                f"wrangler timed out after {self.timeout:g} s",
                args=argv,
                stdout=_strip_ansi(_as_text(exc.stdout)),
                stderr=_strip_ansi(_as_text(exc.stderr)),
            ) from exc
        result = subprocess.CompletedProcess(
            argv, proc.returncode, _strip_ansi(proc.stdout), _strip_ansi(proc.stderr)
        )
        if check and result.returncode != 0:
            raise WranglerError(
                "wrangler failed",
                args=argv,
                returncode=result.returncode,
                stdout=result.stdout,
                stderr=result.stderr,
            )
        return result

    def _local(self) -> list[str]:
        return ["--local", "--persist-to", str(self.persist_dir)]

    def apply_migrations(self) -> subprocess.CompletedProcess[str]:
        """Apply every pending file of `migrations_dir`, as `wrangler d1 migrations apply`
        does for developers; raises WranglerError (with wrangler's output) if one fails.
        """
        return self.run("d1", "migrations", "apply", DATABASE_NAME, *self._local())

    def _execute(self, sql: str) -> subprocess.CompletedProcess[str]:
        args = ["d1", "execute", DATABASE_NAME, *self._local(), "--json"]
        if len(sql.encode("utf-8")) <= _MAX_COMMAND_BYTES and "\x00" not in sql:
            # One `--command=<sql>` argument: as two arguments, yargs would read SQL that
            # starts with "-" (a `--` comment, `-1`) as options.
            args.append(f"--command={sql}")
        else:
            sql_file = self._home / "tmp" / "execute.sql"
            sql_file.write_text(sql, encoding="utf-8", newline="\n")
            args += ["--file", str(sql_file)]
        return self.run(*args, check=False)

    def execute(self, sql: str) -> list[dict[str, object]]:
        """Run SQL on the local D1 database; return the rows of all its statements, in order.

        Raises WranglerError carrying D1's error text if any statement fails.
        """
        proc = self._execute(sql)
        payload = _parse_json(proc.stdout)
        error = _error_text(payload)
        if proc.returncode != 0 or error is not None or not isinstance(payload, list):
            raise WranglerError(
                f"D1 rejected the SQL: {error}" if error else "wrangler d1 execute failed",
                args=list(proc.args),
                returncode=proc.returncode,
                stdout=proc.stdout,
                stderr=proc.stderr,
            )
        rows: list[dict[str, object]] = []
        for result in payload:
            rows.extend(result.get("results") or [])
        return rows

    def execute_expect_error(self, sql: str) -> str:
        """Run SQL that must fail on D1 (e.g. a CHECK violation); return D1's error text.

        Raises WranglerError if the SQL succeeded, so a test cannot pass by accident.
        """
        proc = self._execute(sql)
        payload = _parse_json(proc.stdout)
        error = _error_text(payload)
        if proc.returncode == 0 and error is None:
            raise WranglerError(
                "expected D1 to reject the SQL, but it succeeded",
                args=list(proc.args),
                returncode=proc.returncode,
                stdout=proc.stdout,
                stderr=proc.stderr,
            )
        if error is not None:
            return error
        return (proc.stderr.strip() or proc.stdout.strip()) or f"exit code {proc.returncode}"

    # -- the database file -------------------------------------------------------------

    def sqlite_path(self) -> Path:
        """The SQLite file behind the local D1 database, for read-only schema inspection.

        Miniflare stores it as `<hash>.sqlite` beside `metadata.sqlite` (Durable Object
        bookkeeping, not D1 data), which is excluded.
        """
        folder = self.persist_dir / "v3" / "d1" / "miniflare-D1DatabaseObject"
        candidates = sorted(p for p in folder.glob("*.sqlite") if p.name != "metadata.sqlite")
        if len(candidates) != 1:
            raise WranglerError(
                f"expected exactly one D1 database file in {folder}, found "
                f"{[p.name for p in candidates]} (has anything been applied yet?)"
            )
        return candidates[0]

    def connect_readonly(self) -> sqlite3.Connection:
        """Open `sqlite_path()` read-only with Python's sqlite3 (the file is in WAL mode)."""
        return sqlite3.connect(f"{self.sqlite_path().as_uri()}?mode=ro", uri=True)


def _as_text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return data


def _parse_json(stdout: str) -> object:
    """wrangler's --json output, or None if stdout is not JSON (e.g. a crash)."""
    text = stdout.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _error_text(payload: object) -> str | None:
    """The error text of a `{"error": {"text": ...}}` payload or of a failed result."""
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            return str(error.get("text") or error)
        if error is not None:
            return str(error)
    if isinstance(payload, list):
        for result in payload:
            if isinstance(result, dict) and result.get("success") is False:
                return str(result.get("error") or result)
    return None
