import pytest

from monitoring.links import browsable_url, split_s3_url

URL = "s3://ml-monitoring/reports/loan_approval/dt=2026-10-14/index.html"


def test_a_base_url_serves_the_key_below_it():
    assert browsable_url(URL, base_url="https://reports.example.com/") == (
        "https://reports.example.com/reports/loan_approval/dt%3D2026-10-14/index.html")


def test_without_a_base_url_the_link_is_presigned_and_expires(monkeypatch):
    monkeypatch.delenv("MONITORING_REPORTS_BASE_URL", raising=False)
    monkeypatch.setenv("MONITORING_PRESIGN_SECONDS", "900")
    calls = []
    link = browsable_url(URL, presign=lambda bucket, key, seconds: calls.append((bucket, key, seconds)) or "signed")
    assert link == "signed"
    assert calls == [("ml-monitoring", "reports/loan_approval/dt=2026-10-14/index.html", 900)]


def test_no_base_url_and_no_way_to_presign_is_an_error(monkeypatch):
    monkeypatch.delenv("MONITORING_REPORTS_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="set MONITORING_REPORTS_BASE_URL"):
        browsable_url(URL)


@pytest.mark.parametrize("url", ["https://x/y", "s3://bucket-only", "reports/x"])
def test_only_s3_urls_are_accepted(url):
    with pytest.raises(ValueError):
        split_s3_url(url)
