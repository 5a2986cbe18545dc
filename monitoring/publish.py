"""Publishing one model-day: reports, summary, quarantine, then the manifest last.

A day is published when, and only when, its manifest exists: publishing first removes the old manifest, so a
reader never trusts a day whose files are half rewritten. A rerun overwrites the same keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from monitoring import __version__
from monitoring.layout import REPORT_NAMES, DayLayout
from monitoring.storage import HTML, JSON, PARQUET, ObjectStore

CONTENT_TYPES = {"html": HTML, "json": JSON, "parquet": PARQUET}


def staged_report(layout: DayLayout, name: str, extension: str) -> str:
    return f"{layout.staging_dir}{name}.{extension}"


def staged_summary(layout: DayLayout) -> str:
    return f"{layout.staging_dir}summary.json"


def staged_quarantine(layout: DayLayout) -> str:
    return f"{layout.staging_dir}quarantine.parquet"


def publish(store: ObjectStore, layout: DayLayout, run: dict[str, Any],
            extras: list[tuple[str, bytes, str]] = ()) -> dict[str, str]:
    """Move the staged artifacts of a day to its report folder and write `extras` (key, data, content type),
    then the manifest; returns the S3 URL of each artifact."""
    store.delete(layout.manifest)
    moves = [(staged_report(layout, name, ext), layout.report(name, ext)) for name in REPORT_NAMES
             for ext in ("html", "json")]
    moves.append((staged_summary(layout), layout.summary))
    urls: dict[str, str] = {}
    artifacts: dict[str, dict[str, Any]] = {}
    for source, target in moves:
        data = store.get_bytes(source)  # fails clearly if the report task did not stage it
        name = target.rsplit("/", 1)[-1]
        urls[name] = store.put_bytes(target, data, CONTENT_TYPES[name.rsplit(".", 1)[-1]])
        artifacts[name] = {"key": target, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    for key, data, content_type in extras:
        name = key.rsplit("/", 1)[-1]
        urls[name] = store.put_bytes(key, data, content_type)
        artifacts[name] = {"key": key, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    if store.exists(staged_quarantine(layout)):
        data = store.get_bytes(staged_quarantine(layout))
        urls["quarantine.parquet"] = store.put_bytes(layout.quarantine, data, PARQUET)
        artifacts["quarantine.parquet"] = {"key": layout.quarantine, "bytes": len(data),
                                           "sha256": hashlib.sha256(data).hexdigest()}
    else:
        store.delete(layout.quarantine)  # left by an earlier run of the day that had rejected rows
    manifest = {"model": layout.model, "day": layout.day.isoformat(), "artifacts": artifacts,
                "published_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "run": run, "monitoring_version": __version__}
    urls["manifest.json"] = store.put_json(layout.manifest, manifest)
    return urls


def is_published(store: ObjectStore, layout: DayLayout) -> bool:
    return store.exists(layout.manifest)
