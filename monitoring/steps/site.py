"""Step 5b: the stakeholder site. Compacts the model's metric history and regenerates the pages a run changes: its
own day page, the day pages whose trailing window includes it (so out-of-order backfills converge), the same for
each day whose performance changed with new labels, the model page and the home page."""

from __future__ import annotations

import logging
from typing import Any

from monitoring import history, manifest, rules, site
from monitoring.config import ModelConfig
from monitoring.layout import DayLayout, ModelLayout, parse_day
from monitoring.steps.weekly import recent_weeks
from monitoring.storage import HTML, ObjectStore
from monitoring.summary import summary_from_json

log = logging.getLogger(__name__)


def update_site(store: ObjectStore, model: ModelConfig, day: Any, models: list[ModelConfig] | None = None,
                changed_days: list[str] = ()) -> dict[str, Any]:
    """Regenerate the pages `day` and `changed_days` (whose performance changed) touch; returns their URLs (the
    day page's None when the day is not published: a day whose logs never landed has none) and the day's
    announcement (`published`: see `announcement`)."""
    layout = DayLayout.of(model, day)
    stale = {o.key: store.get_json(o.key) for o in store.list(layout.stale_pages_dir)}  # left by any run (see publish)
    days = history.compact(store, layout)
    changed = {layout.day, *(parse_day(d) for d in changed_days), *(parse_day(m["day"]) for m in stale.values())}
    headline = model.headline_metric
    affected = [d for d in days if any(0 <= (parse_day(d.day) - c).days <= site.TRAILING_DAYS for c in changed)]
    drawn: dict[str, str] = {}  # day -> the sha256 of the summary its page was drawn from
    for metrics in affected:
        day_layout = layout.on(metrics.day)
        data = store.get_bytes(day_layout.summary)
        summary = summary_from_json(data)
        page = site.render_day_page(summary, rules.findings(summary, model), metrics, days, headline=headline,
                                    decision=model.columns.decision, regression=model.is_regression,
                                    classes=model.columns.classes)
        store.put_bytes(day_layout.day_page, page.encode(), HTML)
        drawn[metrics.day] = manifest.sha256(data)
    store.put_bytes(layout.model_page, site.render_model_page(model.name, model.description, days, headline=headline,
                                                              decision=model.columns.decision,
                                                              classes=model.columns.classes,
                                                              weeks=recent_weeks(store, model)).encode(), HTML)
    siblings = [m for m in (models or [model]) if (m.storage.bucket, m.storage.reports_prefix) ==
                (model.storage.bucket, model.storage.reports_prefix)]
    entries = [(m.name, m.description, days if m.name == model.name else
                history.read_history(store, ModelLayout.of(m))) for m in siblings]
    headlines = {m.name: m.headline_metric for m in siblings}
    store.put_bytes(layout.home_page, site.render_home_page(entries, headlines=headlines).encode(), HTML)
    for key, marker in stale.items():  # last: a run that dies before here leaves them for the next to redraw
        if drawn.get(marker["day"]) == marker["summary_sha256"]:
            store.delete(key)
    day = layout.day.isoformat()
    urls = {"day_page": store.url(layout.day_page) if day in drawn else None,
            "model_page": store.url(layout.model_page), "home_page": store.url(layout.home_page)}
    others = sorted(d for d in drawn if d != day)
    pages = (f"day page {urls['day_page']}" if urls["day_page"] else f"no day page for {day} (not published)") + (
        f", and the day page(s) of {', '.join(others)}" if others else "")
    log.info("site updated: %s; model page %s, home page %s", pages, urls["model_page"], urls["home_page"])
    return {**urls, "published": announcement(next((d for d in days if d.day == layout.day.isoformat()), None),
                                              layout)}


def announcement(metrics: history.DayMetrics | None, layout: DayLayout) -> dict[str, Any]:
    """What the day's publication tells the DAGs scheduled on the model's reports asset (the asset event's
    `extra`): the day, its status and health score, dataset drift, the drifted features, the rules that alert, and
    the keys of its page and summary in the bucket (None, with the status, when the day is not published: it has
    neither)."""
    return {"model": layout.model, "day": layout.day.isoformat(), "bucket": layout.bucket,
            "status": metrics.status if metrics else None,
            "health_score": metrics.health_score if metrics else None,
            "dataset_drift": metrics.dataset_drift if metrics else None,
            "drifted_features": metrics.drifted_features if metrics else [],
            "alerting_rules": metrics.alerting_rules if metrics else [],
            "day_page": layout.day_page if metrics else None, "summary": layout.summary if metrics else None}


def update_status_feed(store: ObjectStore, model: ModelConfig, events: list[dict[str, Any]]) -> dict[str, Any]:
    """status.json beside the home page: per model, the latest day published (by day, not by arrival: a backfill of
    old days does not replace a newer one) with its status, health score, drift and page. `events`: the reports
    assets' event extras (see `announcement`). Returns the feed."""
    layout = ModelLayout.of(model)
    try:
        feed = store.get_json(layout.status_feed)
    except FileNotFoundError:
        feed = {"models": {}}
    for event in events:
        if event.get("status") is None:
            continue  # a day that is not published (its logs never landed): no verdict, no page to point to
        known = feed["models"].get(event["model"])
        if known is None or event["day"] >= known["day"]:
            feed["models"][event["model"]] = {k: event.get(k) for k in (
                "day", "status", "health_score", "dataset_drift", "drifted_features", "alerting_rules", "day_page")}
    store.put_json(layout.status_feed, feed)
    log.info("status feed %s: %s", store.url(layout.status_feed),
             ", ".join(f"{m} {v['day']} {v['status']}" for m, v in sorted(feed["models"].items())))
    return feed
