"""Step 5b: the stakeholder site. Compacts the model's metric history and regenerates the pages a run changes: its
own day page, the day pages whose trailing window includes it (so out-of-order backfills converge), the same for
each day whose performance changed with new labels, the model page and the home page."""

from __future__ import annotations

import logging
from typing import Any

from monitoring import history, rules
from monitoring.config import ModelConfig
from monitoring.layout import DayLayout, ModelLayout, parse_day
from monitoring.storage import HTML, ObjectStore
from monitoring.summary import summary_from_json

log = logging.getLogger(__name__)


def update_site(store: ObjectStore, model: ModelConfig, day: Any, models: list[ModelConfig] | None = None,
                changed_days: list[str] = ()) -> dict[str, str]:
    """Regenerate the pages `day` and `changed_days` (whose performance changed) touch; returns their URLs."""
    from monitoring import site

    layout = DayLayout.of(model, day)
    days = history.compact(store, layout)
    changed = {layout.day, *(parse_day(d) for d in changed_days)}
    headline = model.headline_metric
    affected = [d for d in days if any(0 <= (parse_day(d.day) - c).days <= site.TRAILING_DAYS for c in changed)]
    for metrics in affected:
        day_layout = layout.on(metrics.day)
        summary = summary_from_json(store.get_bytes(day_layout.summary))
        page = site.render_day_page(summary, rules.evaluate(summary, model), metrics, days, headline=headline)
        store.put_bytes(day_layout.day_page, page.encode(), HTML)
    store.put_bytes(layout.model_page, site.render_model_page(model.name, model.description, days,
                                                              headline=headline).encode(), HTML)
    siblings = [m for m in (models or [model]) if (m.storage.bucket, m.storage.reports_prefix) ==
                (model.storage.bucket, model.storage.reports_prefix)]
    entries = [(m.name, m.description, days if m.name == model.name else
                history.read_history(store, ModelLayout.of(m))) for m in siblings]
    headlines = {m.name: m.headline_metric for m in siblings}
    store.put_bytes(layout.home_page, site.render_home_page(entries, headlines=headlines).encode(), HTML)
    urls = {"day_page": store.url(layout.day_page), "model_page": store.url(layout.model_page),
            "home_page": store.url(layout.home_page)}
    log.info("site updated: %d day page(s) regenerated; day page %s, model page %s, home page %s",
             len(affected), urls["day_page"], urls["model_page"], urls["home_page"])
    return urls
