"""A stand-in for the few Stripe endpoints the shop uses, on 127.0.0.1, for the real
``stripe`` library to talk to (SHOP_STRIPE_API_BASE).

It speaks Stripe's wire format: form-encoded parameters with bracketed keys
(``line_items[0][price_data][unit_amount]``), a bearer secret key, JSON answers and
Stripe's error body; an ``Idempotency-Key`` seen before gets the first answer again (a
different request under the same key is a 400, as on Stripe). Endpoints:
``POST /v1/checkout/sessions``, ``GET /v1/checkout/sessions/<id>``, ``POST /v1/refunds``.

Tests drive the rest: ``pay(session_id)`` is the buyer paying on Stripe's page (the
session as a ``checkout.session.completed`` event would carry it), ``refuse_refunds``
makes Stripe refuse refunds with that message, and ``event()`` / ``sign()`` build and
sign a webhook exactly as Stripe does.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

SECRET_KEY = "sk_test_standin"
WEBHOOK_SECRET = "whsec_test_standin"


def _nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's bracketed form keys back into objects (lists as dicts keyed "0", "1")."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


class StripeStandIn:
    def __init__(self) -> None:
        self.sessions: dict[str, dict[str, Any]] = {}
        self.refunds: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, dict[str, Any], str | None]] = []
        self.refuse_refunds: str | None = None
        self.failing = False  # every request answered 500: Stripe's outcome unknown
        # With a database file set, each request first tries to take its write lock (no
        # wait): the shop must never hold one while it talks to Stripe.
        self.lock_probe: str | None = None
        self.lock_seen: list[bool] = []
        self._answers: dict[str, tuple[str, int, dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET", b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._serve("POST", self.rfile.read(length))

            def _serve(self, method: str, raw: bytes) -> None:
                if self.headers.get("Authorization") != f"Bearer {SECRET_KEY}":
                    self._answer(401, {"error": {"type": "invalid_request_error",
                                                 "message": "Invalid API Key provided"}})
                    return
                params = _nest(parse_qsl(raw.decode(), keep_blank_values=True))
                key = self.headers.get("Idempotency-Key")
                if stand_in.failing:
                    stand_in.requests.append((method, self.path, params, key))
                    self._answer(500, {"error": {"type": "api_error",
                                                 "message": "Something went wrong."}})
                    return
                status, body = stand_in.handle(method, self.path, params, key)
                self._answer(status, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StripeStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- the API --------------------------------------------------------------------------

    def _probe(self) -> None:
        import sqlite3

        conn = sqlite3.connect(self.lock_probe, timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            self.lock_seen.append(False)
        except sqlite3.OperationalError:
            self.lock_seen.append(True)
        finally:
            conn.close()

    def handle(self, method: str, path: str, params: dict[str, Any],
               key: str | None) -> tuple[int, dict[str, Any]]:
        if self.lock_probe is not None:
            self._probe()
        with self._lock:
            self.requests.append((method, path, params, key))
            fingerprint = json.dumps([method, path, params], sort_keys=True)
            if key is not None and key in self._answers:
                first, status, body = self._answers[key]
                if first != fingerprint:
                    return 400, {"error": {"type": "idempotency_error", "message":
                                           "Keys for idempotent requests can only be used "
                                           "with the same parameters they were first used "
                                           "with."}}
                return status, body
            status, body = self._route(method, path, params)
            if key is not None and method == "POST":
                self._answers[key] = (fingerprint, status, body)
            return status, body

    def _route(self, method: str, path: str,
               params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if method == "POST" and path == "/v1/checkout/sessions":
            return 200, self._new_session(params)
        if method == "GET" and path.startswith("/v1/checkout/sessions/"):
            session = self.sessions.get(path.rsplit("/", 1)[1])
            if session is None:
                return 404, {"error": {"type": "invalid_request_error",
                                       "message": "No such checkout.session"}}
            return 200, session
        if method == "POST" and path == "/v1/refunds":
            return self._new_refund(params)
        return 404, {"error": {"type": "invalid_request_error",
                               "message": f"Unrecognized request URL ({method}: {path})"}}

    def _new_session(self, params: dict[str, Any]) -> dict[str, Any]:
        lines = params.get("line_items", {}).values()
        total = sum(int(line["price_data"]["unit_amount"]) * int(line.get("quantity", 1))
                    for line in lines)
        currency = next(iter(params["line_items"].values()))["price_data"]["currency"]
        n = next(self._ids)
        session = {
            "id": f"cs_test_{n:06d}", "object": "checkout.session",
            "url": f"{self.base}/pay/cs_test_{n:06d}", "mode": params.get("mode"),
            "amount_total": total, "currency": currency,
            "metadata": params.get("metadata", {}),
            "client_reference_id": params.get("client_reference_id"),
            "expires_at": int(params.get("expires_at") or time.time() + 86400),
            "payment_status": "unpaid", "status": "open", "payment_intent": None,
            "success_url": params.get("success_url"),
        }
        self.sessions[session["id"]] = session
        return session

    def _new_refund(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.refuse_refunds is not None:
            return 400, {"error": {"type": "invalid_request_error", "code": "refund_refused",
                                   "message": self.refuse_refunds}}
        intent = params.get("payment_intent")
        paid = [s for s in self.sessions.values() if s["payment_intent"] == intent]
        if not paid:
            return 404, {"error": {"type": "invalid_request_error",
                                   "message": f"No such payment_intent: '{intent}'"}}
        amount = int(params.get("amount") or paid[0]["amount_total"])
        given = sum(r["amount"] for r in self.refunds if r["payment_intent"] == intent)
        if given + amount > paid[0]["amount_total"]:
            return 400, {"error": {"type": "invalid_request_error",
                                   "code": "charge_already_refunded", "message":
                                   "Refund amount is greater than the unrefunded amount."}}
        refund = {"id": f"re_test_{next(self._ids):06d}", "object": "refund",
                  "amount": amount, "currency": paid[0]["currency"],
                  "payment_intent": intent, "status": "succeeded",
                  "metadata": params.get("metadata", {})}
        self.refunds.append(refund)
        return 200, refund

    # --- what the tests do ---------------------------------------------------------------

    def pay(self, session_id: str, **changes: Any) -> dict[str, Any]:
        """The buyer pays on Stripe's page: the session, as the completed event carries it
        (``changes`` alter what the event says, e.g. a wrong amount)."""
        with self._lock:
            session = self.sessions[session_id]
            session.update(payment_status="paid", status="complete",
                           payment_intent=session.get("payment_intent")
                           or f"pi_test_{next(self._ids):06d}")
            return {**session, **changes}

    def refund_calls(self) -> list[tuple[dict[str, Any], str | None]]:
        return [(p, k) for m, path, p, k in self.requests if path == "/v1/refunds"]


_events = itertools.count(1)


def event(kind: str, obj: dict[str, Any], event_id: str | None = None) -> bytes:
    """A webhook body as Stripe sends it."""
    return json.dumps({"id": event_id or f"evt_test_{next(_events):06d}", "object": "event",
                       "api_version": "2026-10-28.endive", "created": int(time.time()),
                       "livemode": False, "type": kind, "data": {"object": obj}}).encode()


def sign(body: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """Stripe's signature header: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">."""
    t = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"
