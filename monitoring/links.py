"""Browsable links to published reports, for people outside S3's own console.

An `s3://bucket/key` URL becomes `<base URL>/<key>` when reports are served from a known address (a bucket website,
a CDN, the demo's local S3 server), else a presigned URL that expires.
"""

from __future__ import annotations

import os
from typing import Callable
from urllib.parse import quote

BASE_URL_ENV_VAR = "MONITORING_REPORTS_BASE_URL"  # e.g. https://reports.example.com (serving the bucket's root)
PRESIGN_SECONDS_ENV_VAR = "MONITORING_PRESIGN_SECONDS"
DEFAULT_PRESIGN_SECONDS = 24 * 3600


def split_s3_url(url: str) -> tuple[str, str]:
    if not url.startswith("s3://") or "/" not in url[5:]:
        raise ValueError(f"{url!r} is not an s3://bucket/key URL")
    bucket, key = url[5:].split("/", 1)
    return bucket, key


def browsable_url(s3_url: str, presign: Callable[[str, str, int], str] | None = None,
                  base_url: str | None = None, expires_in: int | None = None) -> str:
    """The base URL (argument, else $MONITORING_REPORTS_BASE_URL) joined with the key, else a presigned URL."""
    bucket, key = split_s3_url(s3_url)
    base_url = base_url if base_url is not None else os.environ.get(BASE_URL_ENV_VAR)
    if base_url:
        return f"{base_url.rstrip('/')}/{quote(key)}"
    if presign is None:
        raise ValueError(f"set {BASE_URL_ENV_VAR} or give a way to presign {s3_url}")
    seconds = expires_in or int(os.environ.get(PRESIGN_SECONDS_ENV_VAR, DEFAULT_PRESIGN_SECONDS))
    return presign(bucket, key, seconds)
