"""The Today page: what needs the owner's hands now. Counts and short lists, each linking
to the page where the work is done; the reads are ``shop.services.dashboard``'s (one index
range each, however big the shop)."""

from __future__ import annotations

from flask import Response

from shop.pages.web import admin, nav, page
from shop.services import dashboard

nav("admin.today", "Today")


@admin.route("")
def today() -> Response:
    return page("admin/today.html", **dashboard.today())
