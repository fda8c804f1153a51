"""The Operations page: the storage's health, the last backup and its check, the replica,
and the last run of each cron job (with each job's history)."""

from __future__ import annotations

from flask import Response, abort, request, url_for

from shop.pages.web import admin, nav, page
from shop.services import jobs

nav("admin.operations", "Operations")

# /healthz's words for each storage problem (system.storage_health), for the owner.
STORAGE = {
    None: "The database can be read and written, and its disk has room.",
    "storage_full": "The disk is full: the shop cannot save anything. Free some space.",
    "read_only": "The shop's files are read-only: check the permissions and the mount.",
    "storage_error": "The database cannot be used: check the disk, or restore a backup.",
}


@admin.route("/operations", endpoint="operations")
def operations_page() -> Response:
    status = jobs.overview()
    return page("admin/operations.html", ops=status,
                storage_words=STORAGE.get(status["storage"], STORAGE["storage_error"]))


@admin.route("/operations/jobs/<job>", endpoint="operations_job")
def job_page(job: str) -> Response:
    if job not in jobs.JOBS:
        abort(404)
    found = jobs.runs(job, cursor=request.args.get("cursor") or None)
    next_url = (url_for("admin.operations_job", job=job, cursor=found.next_cursor)
                if found.next_cursor else None)
    return page("admin/operations_job.html", job=job, label=jobs.JOBS[job], runs=found.items,
                next_url=next_url)
