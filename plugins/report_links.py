"""Airflow plugin: links from the monitoring DAGs' tasks to the day's report page and the model's history page.

The links appear on every task of a `monitor_<model>` run once its `update_site` task has published the pages. They
open `$MONITORING_REPORTS_BASE_URL/<key>` when reports are served from a known address, else a presigned S3 URL that
expires after `$MONITORING_PRESIGN_SECONDS` (default one day). The plugin adds no endpoint: links are computed by
Airflow's own authenticated API.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from airflow.sdk import BaseOperatorLink

MONITORING_DAG_PREFIX = "monitor_"
SITE_TASK = "update_site"


def _site_urls(ti_key) -> dict:
    """The page URLs the run's update_site task returned (s3:// URLs), or {} before it ran."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(XComModel.get_many(run_id=ti_key.run_id, key="return_value", dag_ids=ti_key.dag_id,
                                                 task_ids=SITE_TASK)).first()
        return XComModel.deserialize_value(row) if row is not None else {}


def _presign(bucket: str, key: str, seconds: int) -> str:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from monitoring.config import load_config

    connections = {m.storage.bucket: m.storage.aws_conn_id for m in load_config(isolate=True).models}
    hook = S3Hook(aws_conn_id=connections.get(bucket, "aws_default"))
    return hook.generate_presigned_url("get_object", params={"Bucket": bucket, "Key": key}, expires_in=seconds)


class _PageLink(BaseOperatorLink):
    page = ""

    def get_link(self, operator, *, ti_key) -> str:
        if not ti_key.dag_id.startswith(MONITORING_DAG_PREFIX):
            return ""
        url = _site_urls(ti_key).get(self.page)
        if not url:
            return ""
        from monitoring.links import browsable_url

        return browsable_url(url, presign=_presign)


class DayReportLink(_PageLink):
    name = "Day report page"
    page = "day_page"


class ModelHistoryLink(_PageLink):
    name = "Model history page"
    page = "model_page"


class MonitoringReportLinks(AirflowPlugin):
    name = "monitoring_report_links"
    global_operator_extra_links = [DayReportLink(), ModelHistoryLink()]
