"""The Today page: what needs the owner's hands now."""

from __future__ import annotations

from flask import Response

from shop.pages.web import admin, nav, page

nav("admin.today", "Today")


@admin.route("")
def today() -> Response:
    return page("admin/today.html")
