"""The stakeholder site in headless Chromium, served by the local S3 server as a bucket website would serve it."""

from __future__ import annotations

import datetime as dt
import json
import struct
import zlib

import boto3
import pytest

from demo.seed import allow_public_reports  # the bucket policy of a bucket website, as the demo sets it
from monitoring import site, steps
from monitoring.config import load_config
from monitoring.history import DayMetrics, FeatureDriftPoint
from monitoring.storage import HTML, ObjectStore
from tests.conftest import BUCKET, ROOT
from tests.helpers import day_log, headless_chromium, now, put_frame, seed_days

pytestmark = pytest.mark.e2e

DAYS = {dt.date(2026, 10, 10): 10, dt.date(2026, 10, 11): 11, dt.date(2026, 10, 12): 12, dt.date(2026, 10, 13): 13}
FIRST_DRIFTED = "2026-10-12"
HOSTILE = '<script>window.__xss = 1</script>"\'><img src=x onerror="window.__xss=2">'
CRITICAL_RED = (0xC0, 0x39, 0x2B)


@pytest.fixture(scope="module")
def site_url(s3_server, trained):
    """Four days (drift from the third) published through the library, days in reverse order."""
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    allow_public_reports(client, BUCKET)
    seed_days(client, trained, DAYS, rows=800)
    model = load_config(ROOT / "config" / "models.yaml").model("loan_approval")
    store = ObjectStore(client, BUCKET)
    for day in sorted(DAYS, reverse=True):  # a backfill landing out of order
        steps.run_day(store, model, day, now=now())
    # A day whose category values are hostile: they must show as text on its page.
    frame = day_log(trained, dt.date(2026, 10, 14), rows=800, drifted=True)
    frame.loc[:300, "home_ownership"] = HOSTILE
    put_frame(client, "predictions/loan_approval/dt=2026-10-14/part-0.parquet", frame)
    steps.run_day(store, model, dt.date(2026, 10, 14), now=now())
    # A model page whose feature names are hostile.
    hostile_history = [DayMetrics(
        model="hostile", day="2026-10-14", status="warning", health_score=80.0, rows=10, quarantined_share=0.0,
        mean_score=0.5, positive_rate=0.5, reference_mean_score=0.5, reference_positive_rate=0.5, drift_share=0.5,
        dataset_drift=False, drifted_features=[HOSTILE], prediction_drift=False, max_missing_share=0.0,
        findings=["feature_drift"], features={HOSTILE: FeatureDriftPoint(score=0.3, threshold=0.1, drifted=True),
                                              "ok": FeatureDriftPoint(score=0.01, threshold=0.1, drifted=False)})]
    store.put_bytes("reports/hostile/index.html", site.render_model_page("hostile", HOSTILE, hostile_history).encode(),
                    HTML)
    return f"{s3_server}/{BUCKET}/reports"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = headless_chromium(tmp_path_factory.mktemp("chromium"), window="1200,1600")
    yield driver
    driver.quit()


def console_errors(browser) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def png_pixels(data: bytes) -> list[tuple[int, int, int]]:
    """RGB pixels of an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0
    channels = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(b"".join(chunks)), width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        previous = line
    return [tuple(row[x * channels:x * channels + 3]) for row in rows for x in range(width)]


def test_two_clicks_lead_from_the_home_page_to_the_day_the_drift_started(site_url, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(f"{site_url}/index.html")
    assert "loan_approval" in browser.find_element(By.TAG_NAME, "table").text
    browser.find_element(By.LINK_TEXT, "loan_approval").click()
    assert browser.current_url.endswith("/reports/loan_approval/index.html")
    browser.find_element(By.LINK_TEXT, FIRST_DRIFTED).click()
    assert browser.current_url.endswith(f"/reports/loan_approval/dt={FIRST_DRIFTED}/index.html")
    status = browser.find_element(By.ID, "status")
    assert status.text == "critical"
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "features drifted" in body and "annual_income, loan_purpose" in body
    assert "What to do:" in body
    shot = tmp_path / "drifted-day.png"
    assert browser.save_screenshot(str(shot))
    pixels = png_pixels(shot.read_bytes())
    assert sum(1 for p in pixels if all(abs(p[i] - CRITICAL_RED[i]) <= 6 for i in range(3))) > 200
    assert console_errors(browser) == []


def test_the_model_page_draws_its_charts_without_console_errors(site_url, browser):
    from selenium.webdriver.common.by import By

    browser.get(f"{site_url}/loan_approval/index.html")
    drawn = browser.execute_script(
        "return [...document.querySelectorAll('svg.chart polyline.series')].map(p => p.getBBox().width)")
    assert len(drawn) >= 5 and all(width > 0 for width in drawn)
    cells = browser.find_elements(By.CSS_SELECTOR, "svg.heatmap rect.cell")
    segments = browser.find_elements(By.CSS_SELECTOR, "#segment-heatmap svg.heatmap rect.cell")
    assert len(cells) - len(segments) == 5 * 9  # five days x nine features
    assert segments and len(segments) % 5 == 0  # five days x the config's judged segments
    assert {a.text for a in browser.find_elements(By.LINK_TEXT, "CSV")} == {"CSV"}
    assert console_errors(browser) == []


def test_day_pages_reflect_days_published_out_of_order(site_url, browser):
    """Days were published newest first: the last day's trailing figures still include the earlier days."""
    from selenium.webdriver.common.by import By

    browser.get(f"{site_url}/loan_approval/dt=2026-10-13/index.html")
    kpis = browser.find_element(By.CLASS_NAME, "kpis").text
    assert "previous 7 days: n/a" not in kpis
    history = json.loads(boto3.client("s3", endpoint_url=site_url.rsplit("/", 2)[0], region_name="us-east-1")
                         .get_object(Bucket=BUCKET, Key="reports/loan_approval/history.json")["Body"].read())
    previous = [d["rows"] for d in history["days"] if d["day"] < "2026-10-13"]
    assert f"previous 7 days: {sum(previous) / len(previous):.0f} a day" in kpis


def test_hostile_category_values_and_feature_names_show_as_text_and_never_run(site_url, browser):
    from selenium.webdriver.common.by import By

    for page in ("loan_approval/dt=2026-10-14/index.html", "hostile/index.html"):
        browser.get(f"{site_url}/{page}")
        assert browser.execute_script("return window.__xss === undefined")
        assert HOSTILE in browser.find_element(By.TAG_NAME, "body").text or \
            HOSTILE in browser.execute_script("return document.body.innerHTML.replaceAll('&lt;','<')"
                                              ".replaceAll('&gt;','>').replaceAll('&amp;','&')"
                                              ".replaceAll('&quot;','\"').replaceAll('&#39;',\"'\")")
        assert browser.find_elements(By.TAG_NAME, "img") == []
        assert console_errors(browser) == []
    for report in ("data_drift", "data_quality"):  # Evidently's own pages inline the data in a <script> block
        browser.get(f"{site_url}/loan_approval/dt=2026-10-14/{report}.html")
        assert browser.execute_script("return window.__xss === undefined"), report


def test_pages_are_light_and_load_nothing_from_the_internet(site_url):
    client = boto3.client("s3", endpoint_url=site_url.rsplit("/", 2)[0], region_name="us-east-1")
    for key in ("reports/index.html", "reports/loan_approval/index.html",
                "reports/loan_approval/dt=2026-10-12/index.html"):
        html = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert len(html) < 1_000_000, key
        text = html.decode()
        assert "<script" not in text and "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "https://" not in text
