"""A day's manifest: what is published, written last.

A day is published when, and only when, its manifest exists: publishing first removes the old manifest, so a
reader never trusts a day whose files are half rewritten. A rerun overwrites the same keys. Artifacts a published
day gains later (labels, decisions) are listed in its manifest as they are written (`record_update`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Iterable

from monitoring import __version__
from monitoring.layout import DAY_REPORTS, PERFORMANCE_REPORT, REPORT_NAMES, DayLayout
from monitoring.storage import HTML, JSON, PARQUET, ObjectStore

CONTENT_TYPES = {"html": HTML, "json": JSON, "parquet": PARQUET}


def _record(data: bytes, key: str) -> dict[str, Any]:
    return {"key": key, "bytes": len(data), "sha256": sha256(data)}


def later_artifacts(layout: DayLayout) -> list[str]:
    """Keys a day gains after its publication, once labels arrive or its trailing window's days are published; they
    are updated in place by later runs, not by the day's own publish."""
    return [layout.performance, layout.report(PERFORMANCE_REPORT, "html"), layout.report(PERFORMANCE_REPORT, "json"),
            layout.labels_report, layout.labels_quarantine, layout.label_state, layout.trailing]


def publish(store: ObjectStore, layout: DayLayout, run: dict[str, Any], now: dt.datetime,
            extras: list[tuple[str, bytes, str]] = (), reports: Iterable[str] = REPORT_NAMES) -> dict[str, str]:
    """Move the staged `reports` of a day to its report folder (removing the others, left by an earlier run), write
    `extras` (key, data, content type) and the quarantine, then the manifest; returns the S3 URL of each artifact.
    Later artifacts written earlier (by this day's or later days' runs) are kept and listed in the new manifest."""
    previous = _manifest(store, layout)
    store.delete(layout.manifest)
    urls: dict[str, str] = {}
    artifacts: dict[str, dict[str, Any]] = {}

    def write(key: str, data: bytes, content_type: str) -> None:
        name = key.rsplit("/", 1)[-1]
        urls[name] = store.put_bytes(key, data, content_type)
        artifacts[name] = _record(data, key)

    for name in DAY_REPORTS:
        for ext in ("html", "json"):
            if name in reports:  # get_bytes fails clearly if the report task did not stage it
                write(layout.report(name, ext), store.get_bytes(layout.staged_report(name, ext)), CONTENT_TYPES[ext])
            else:
                store.delete(layout.report(name, ext))
    for key, data, content_type in extras:
        write(key, data, content_type)
    if store.exists(layout.staged_quarantine):
        write(layout.quarantine, store.get_bytes(layout.staged_quarantine), PARQUET)
    else:
        store.delete(layout.quarantine)  # left by an earlier run of the day that had rejected rows
    sizes = {o.key: o.size for o in store.list(layout.reports_dir)}
    for key in later_artifacts(layout):
        name = key.rsplit("/", 1)[-1]
        if key in sizes:
            urls[name] = store.url(key)
            artifacts[name] = _checked(store, key, sizes[key], previous.get("artifacts", {}).get(name))
    before = previous.get("artifacts", {})
    if previous.get("monitoring_version") == __version__ and all(
            before.get(name) == artifacts.get(name) for name in {*artifacts, layout.quarantine.rsplit("/", 1)[-1]}):
        # A rerun that rewrote the same bytes: the first publication's manifest stands, with what later tasks of
        # the day added to it (decisions, labels), which the rerun's tasks rewrite and record again.
        manifest = previous
    else:
        manifest = {"model": layout.model, "day": layout.day.isoformat(), "artifacts": artifacts,
                    "published_at": now.isoformat(timespec="seconds"),
                    "run": run, "monitoring_version": __version__}
    urls["manifest.json"] = store.put_json(layout.manifest, manifest)
    return urls


def _checked(store: ObjectStore, key: str, size: int, record: dict[str, Any] | None) -> dict[str, Any]:
    """The record of an artifact a later task wrote (labels), as the previous manifest has it when it still describes
    the object; else made anew from the object (a run killed between writing it and recording it)."""
    if record and record.get("sha256") and record.get("bytes") == size and not key.endswith(".json"):
        return record  # an HTML report: its size is checked, its megabytes are not read again
    data = store.get_bytes(key)
    return record if record and record.get("sha256") == _record(data, key)["sha256"] else _record(data, key)


def recorded(store: ObjectStore, layout: DayLayout, key: str) -> str | None:
    """The sha256 the day's manifest lists for `key` (None when the day or the key is not listed)."""
    return _manifest(store, layout).get("artifacts", {}).get(key.rsplit("/", 1)[-1], {}).get("sha256")


def listed(store: ObjectStore, layout: DayLayout) -> dict[str, str] | None:
    """The sha256 the day's manifest lists for each artifact (by file name); None when the day is not published."""
    try:
        artifacts = store.get_json(layout.manifest).get("artifacts", {})
    except FileNotFoundError:
        return None
    return {name: record.get("sha256") for name, record in artifacts.items()}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_published(store: ObjectStore, layout: DayLayout) -> bool:
    return store.exists(layout.manifest)


def _manifest(store: ObjectStore, layout: DayLayout) -> dict[str, Any]:
    try:
        return store.get_json(layout.manifest)
    except FileNotFoundError:
        return {}


def record_update(store: ObjectStore, layout: DayLayout, written: list[tuple[str, bytes]], now: dt.datetime,
                  removed: list[str] = ()) -> None:
    """After artifacts of a published day were rewritten in place (labels arrived), list them in its manifest.

    Each object is replaced whole, so readers see the old or the new version of each, never a mix within one."""
    manifest = _manifest(store, layout)
    if not manifest:
        return  # being republished right now: its publish lists what it finds
    artifacts = manifest.setdefault("artifacts", {})
    before = dict(artifacts)
    for key, data in written:
        artifacts[key.rsplit("/", 1)[-1]] = _record(data, key)
    for key in removed:
        artifacts.pop(key.rsplit("/", 1)[-1], None)
    if artifacts == before:
        return  # the same bytes again (a rerun): the manifest stays as it was
    manifest["updated_at"] = now.isoformat(timespec="seconds")
    store.put_json(layout.manifest, manifest)
