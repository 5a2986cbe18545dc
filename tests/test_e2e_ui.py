"""The extra links of the report-links plugin, seen in the real Airflow UI by a logged-in user (issue 8).

`airflow standalone` (SQLite, LocalExecutor) runs the project's DAGs against a local S3 server holding one day of
`loan_approval`. One run of `monitor_loan_approval` for that day is triggered through the REST API, as the UI's
*Trigger* form does. Then headless Chromium:

1. opens the UI and is sent to SimpleAuthManager's login page, signs in as `admin` with the generated password;
2. opens the finished `publish` task instance of the run (`/dags/<dag>/runs/<run>/tasks/publish`), clicks its
   *Details* tab and finds the extra links **Day report page** and **Model history page**, whose targets are the day
   page and the model page under `$MONITORING_REPORTS_BASE_URL` (the local S3 server's bucket); the day page link
   really serves the day page.

Without a login the links are out of reach: the REST endpoint the UI reads them from answers 401, and the plugin
registers no endpoint, app or view of its own.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from urllib.parse import quote

import boto3
import pytest
import requests
import yaml

from demo.seed import allow_public_reports  # the bucket policy of a bucket website, as the demo sets it
from tests.conftest import BUCKET, ROOT
from tests.helpers import headless_chromium, seed_days
from tests.standalone import Standalone, stopped_after

pytestmark = pytest.mark.e2e

MODEL = "loan_approval"
DAG_ID = f"monitor_{MODEL}"
TASK_ID = "publish"
DAY = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)  # yesterday (UTC)
RUN_ID = f"e2e_ui__{DAY.isoformat()}"
ROWS = 400
UI_WAIT = 90  # seconds: the React UI loads its chunks and data lazily
LINK_NAMES = ("Day report page", "Model history page")


def say(message: str) -> None:
    print(f"[e2e-ui] {message}", flush=True)


@pytest.fixture(scope="module")
def s3(s3_server, trained):
    """The bucket with the model's reference and one day (no drift) of its prediction logs."""
    werkzeug = logging.getLogger("werkzeug")  # the S3 server logs every request
    level = werkzeug.level
    werkzeug.setLevel(logging.WARNING)
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    allow_public_reports(client, BUCKET)  # as the demo: the reports open in a browser without credentials
    seed_days(client, trained, {DAY: 5}, rows=ROWS)
    yield client
    werkzeug.setLevel(level)


@pytest.fixture(scope="module")
def reports_base(s3_server) -> str:
    return f"{s3_server}/{BUCKET}"


@pytest.fixture(scope="module")
def airflow(tmp_path_factory, s3_server, s3, reports_base):
    """`airflow standalone` on SQLite with loan_approval only (no label feed), links as plain URLs under the local S3
    server; one finished run of the day. Every process it started is stopped at the end."""
    document = yaml.safe_load((ROOT / "config" / "models.yaml").read_text())
    document["models"] = {MODEL: document["models"][MODEL]}
    document["models"][MODEL].pop("labels")  # no label feed: faster, and no "labels missing" findings
    config = tmp_path_factory.mktemp("config") / "models.yaml"
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    env = {
        "MONITORING_CONFIG": str(config),
        "MONITORING_REPORTS_BASE_URL": reports_base,  # read by monitoring.links (the plugin's URLs)
        "AIRFLOW_CONN_MONITORING_S3": json.dumps({
            "conn_type": "aws", "login": "testing", "password": "testing",
            "extra": {"endpoint_url": s3_server, "region_name": "us-east-1"}}),
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    }
    standalone = Standalone(tmp_path_factory.mktemp("airflow-home"), env, database="sqlite", parallelism=2)
    say(f"airflow standalone on port {standalone.port}, sqlite, home {standalone.home}")

    started = time.monotonic()
    with stopped_after(standalone, say):
        standalone.start()
        say(f"started in {time.monotonic() - started:.0f}s")
        standalone.wait_for(f"{DAG_ID} to be parsed", lambda: standalone.dag_exists(DAG_ID), 300, every=3)
        # What the Trigger form posts for a rerun of one day. The logical date is the start of the day's data
        # interval: the scheduled run the unpause below would create for that interval (catchup=False schedules the
        # latest one) is then skipped as already existing, so this is the DAG's only run.
        run = standalone.call("POST", f"/dags/{DAG_ID}/dagRuns", json={
            "dag_run_id": RUN_ID, "logical_date": f"{DAY.isoformat()}T00:00:00Z", "conf": {"day": DAY.isoformat()}})
        assert run["dag_run_id"] == RUN_ID and run["conf"] == {"day": DAY.isoformat()}, run
        standalone.set_paused(DAG_ID, False)
        run = wait_for_run(standalone)
        say(f"run {RUN_ID} {run['state']} {time.monotonic() - started:.0f}s after start")
        yield standalone


def wait_for_run(airflow: Standalone) -> dict:
    """Until the run succeeded; fails at once (with the task logs) when a task failed or waits for a retry."""

    def finished():
        run = airflow.call("GET", f"/dags/{DAG_ID}/dagRuns/{RUN_ID}")
        bad = [t for t in airflow.task_instances(DAG_ID, RUN_ID)
               if t["state"] in ("failed", "up_for_retry", "upstream_failed")]
        if bad or run["state"] == "failed":
            raise AssertionError(f"run {RUN_ID} {run['state']}, tasks {[(t['task_id'], t['state']) for t in bad]}\n"
                                 f"{airflow.diagnostics((DAG_ID,))}")
        return run if run["state"] == "success" else None

    return airflow.wait_for(f"the run {RUN_ID} to succeed", finished, 600, every=3, dag_ids=(DAG_ID,))


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = headless_chromium(tmp_path_factory.mktemp("chromium"), window="1600,1200")
    yield driver
    driver.quit()


def expected_urls(reports_base: str) -> dict[str, str]:
    """The plugin's targets: monitoring.links.browsable_url joins the base URL with the quoted key."""
    return {"Day report page": f"{reports_base}/{quote(f'reports/{MODEL}/dt={DAY.isoformat()}/index.html')}",
            "Model history page": f"{reports_base}/reports/{MODEL}/index.html"}


class Page:
    """Explicit waits on the browser; on a timeout, a screenshot and what the page showed."""

    def __init__(self, driver, shots) -> None:
        self.driver = driver
        self.shots = shots

    def evidence(self, what: str) -> str:
        shot = self.shots / f"{re.sub(r'[^A-Za-z0-9.-]+', '_', what)[:80]}.png"
        try:
            self.driver.save_screenshot(str(shot))
        except Exception as exc:  # noqa: BLE001 (evidence must not hide the failure)
            shot = f"(no screenshot: {exc})"
        try:
            text = self.driver.execute_script("return document.body ? document.body.innerText : ''")
            source = self.driver.page_source
        except Exception as exc:  # noqa: BLE001
            text, source = f"(unavailable: {exc})", ""
        anchors = []
        try:
            anchors = self.driver.execute_script(
                "return [...document.querySelectorAll('a')].map(a => a.textContent.trim() + ' -> ' + "
                "a.getAttribute('href')).slice(0, 60)")
        except Exception:  # noqa: BLE001
            pass
        return (f"{what}\nurl: {self.driver.current_url}\nscreenshot: {shot}\n--- visible text ---\n{text[:3000]}\n"
                f"--- anchors ---\n" + "\n".join(anchors) + f"\n--- page source (first 3000 chars) ---\n"
                f"{source[:3000]}")

    def wait(self, what: str, condition, timeout: float = UI_WAIT):
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.5).until(condition)
        except TimeoutException:
            raise AssertionError(self.evidence(f"gave up after {timeout}s waiting for {what}")) from None

    def visible(self, what: str, by: str, selector: str, timeout: float = UI_WAIT):
        from selenium.webdriver.support import expected_conditions as ec

        return self.wait(what, ec.visibility_of_element_located((by, selector)), timeout)


def test_a_logged_in_user_sees_the_day_report_link_on_the_finished_publish_task(airflow, browser, reports_base,
                                                                                  tmp_path):
    from selenium.webdriver.common.by import By

    page = Page(browser, tmp_path)
    ti = airflow.call("GET", f"/dags/{DAG_ID}/dagRuns/{RUN_ID}/taskInstances/{TASK_ID}")
    assert ti["state"] == "success", ti

    # 1. Not logged in: the UI sends the browser to the auth manager's login page.
    browser.get(f"{airflow.base_url}/")
    username = page.visible("the login form", By.CSS_SELECTOR, "input[name='username']")
    assert "/auth/" in browser.current_url, browser.current_url
    password = json.loads((airflow.home / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
    username.send_keys("admin")
    browser.find_element(By.CSS_SELECTOR, "input[name='password']").send_keys(password)
    page.visible("the Sign in button", By.XPATH, "//button[@type='submit' and normalize-space()='Sign in']").click()
    page.wait("the UI after signing in", lambda d: "/auth/" not in d.current_url
              and d.get_cookie("_token") is not None)

    # 2. The task instance page of the finished publish task, then its Details tab (where extra links are shown).
    task_url = f"{airflow.base_url}/dags/{DAG_ID}/runs/{quote(RUN_ID, safe='')}/tasks/{TASK_ID}"
    browser.get(task_url)
    assert "/auth/" not in browser.current_url, page.evidence("sent back to the login page")
    details = page.visible("the task instance's Details tab", By.CSS_SELECTOR,
                           f"a[href$='/tasks/{TASK_ID}/details']")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", details)
    details.click()
    page.wait("the Details tab to open", lambda d: d.current_url.rstrip("/").endswith(f"/tasks/{TASK_ID}/details"))

    expected = expected_urls(reports_base)
    for name in LINK_NAMES:
        link = page.visible(f"the extra link {name!r}", By.XPATH, f"//a[normalize-space()='{name}']")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
        href = link.get_dom_attribute("href")
        assert link.is_displayed() and href == expected[name], page.evidence(
            f"the extra link {name!r} points at {href!r}, not {expected[name]!r}")
        assert link.get_dom_attribute("target") == "_blank", page.evidence(f"{name!r} does not open a new tab")
    page_text = browser.execute_script("return document.body.innerText")
    assert "Extra Links" in page_text and "success" in page_text.lower(), page.evidence("the Details tab")

    # The link serves the day's page, straight from the local S3 server (no credentials, as in a browser).
    day_link = browser.find_element(By.XPATH, f"//a[normalize-space()='{LINK_NAMES[0]}']").get_dom_attribute("href")
    served = requests.get(day_link, timeout=30)
    assert served.status_code == 200 and served.headers["Content-Type"].startswith("text/html"), (
        served.status_code, served.headers, served.text[:500])
    assert DAY.isoformat() in served.text and MODEL in served.text, served.text[:2000]

    # Logged out again (cookie gone), the task page is no longer reachable: back to the login form.
    browser.delete_all_cookies()
    browser.get(task_url)
    page.visible("the login form after the cookie was removed", By.CSS_SELECTOR, "input[name='username']")
    assert not browser.find_elements(By.XPATH, f"//a[normalize-space()='{LINK_NAMES[0]}']")


def test_without_a_login_the_links_are_out_of_reach(airflow, reports_base):
    links = f"{airflow.base_url}/api/v2/dags/{DAG_ID}/dagRuns/{RUN_ID}/taskInstances/{TASK_ID}/links"
    anonymous = requests.get(links, timeout=30)
    assert anonymous.status_code in (401, 403), (anonymous.status_code, anonymous.text[:500])
    assert "ml-monitoring" not in anonymous.text
    forged = requests.get(links, timeout=30, headers={"Authorization": "Bearer not-a-token"})
    assert forged.status_code in (401, 403), (forged.status_code, forged.text[:500])

    # The same endpoint with the admin's token: the links the UI showed (so the 401 above is about the login).
    answer = airflow.call("GET", f"/dags/{DAG_ID}/dagRuns/{RUN_ID}/taskInstances/{TASK_ID}/links")
    assert answer["extra_links"] == expected_urls(reports_base), answer

    # The plugin registers only operator extra links: no endpoint, app, view or page of its own.
    plugins = airflow.call("GET", "/plugins")["plugins"]
    mine = [p for p in plugins if p["name"] == "monitoring_report_links"]
    assert len(mine) == 1, plugins
    plugin = mine[0]
    extra_links = " ".join(map(str, plugin["global_operator_extra_links"]))
    assert "DayReportLink" in extra_links and "ModelHistoryLink" in extra_links, plugin
    for kind in ("fastapi_apps", "fastapi_root_middlewares", "flask_blueprints", "appbuilder_views",
                 "appbuilder_menu_items", "external_views", "react_apps"):
        assert not plugin.get(kind), f"the plugin registers {kind}: {plugin.get(kind)}"
