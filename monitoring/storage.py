"""A small object-store interface over a boto3 S3 client.

The DAG hands it `S3Hook(aws_conn_id).get_conn()`, tests and the CLI hand it a plain boto3 client: the library
never needs to know which.
"""

from __future__ import annotations

import io
import json
import math
import shutil
import tempfile
from dataclasses import dataclass
from typing import IO, Any, Iterator, NoReturn

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

JSON = "application/json"
HTML = "text/html; charset=utf-8"
PARQUET = "application/vnd.apache.parquet"


class StorageError(RuntimeError):
    """An object could not be read or written; the message names the S3 URL."""


def client_config(max_attempts: int = 8) -> Config:
    """Throttling (SlowDown), 5xx answers and dropped connections are retried with exponential backoff."""
    return Config(retries={"mode": "standard", "max_attempts": max_attempts}, connect_timeout=10, read_timeout=120)


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    last_modified: float = 0.0  # seconds since the epoch
    etag: str = ""  # the content's fingerprint as the store gives it (an MD5 for objects written in one part)


class ObjectStore:
    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def list(self, prefix: str) -> list[StoredObject]:
        """Every object under `prefix`, sorted by key."""
        objects: list[StoredObject] = []
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                objects.extend(StoredObject(o["Key"], int(o["Size"]), o["LastModified"].timestamp(),
                                            o.get("ETag", "").strip('"')) for o in page.get("Contents", []))
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"cannot list {self.url(prefix)}: {exc}") from exc
        return sorted(objects, key=lambda o: o.key)

    def list_level(self, prefix: str) -> tuple[list[StoredObject], list[str]]:
        """The objects directly under `prefix` and the folders there (`prefix` + name + "/"), sorted."""
        objects: list[StoredObject] = []
        folders: list[str] = []
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
                objects.extend(StoredObject(o["Key"], int(o["Size"]), o["LastModified"].timestamp(),
                                            o.get("ETag", "").strip('"')) for o in page.get("Contents", []))
                folders.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"cannot list {self.url(prefix)}: {exc}") from exc
        return sorted(objects, key=lambda o: o.key), sorted(folders)

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except (ClientError, BotoCoreError) as exc:
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise StorageError(f"cannot check {self.url(key)}: {exc}") from exc

    def _read_failed(self, key: str, exc: ClientError | BotoCoreError) -> NoReturn:
        if _error_code(exc) in ("404", "NoSuchKey"):
            raise FileNotFoundError(f"{self.url(key)} does not exist") from None
        raise StorageError(f"cannot read {self.url(key)}: {exc}") from exc

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            self._read_failed(key, exc)

    def get_json(self, key: str) -> Any:
        return json.loads(self.get_bytes(key))

    def open(self, key: str) -> io.BytesIO:
        return io.BytesIO(self.get_bytes(key))

    def download(self, key: str) -> IO[bytes]:
        """The object in a local temporary file, positioned at its start (removed when closed): readers take what
        they need from it in pieces, so memory stays flat whatever the object's size."""
        local = tempfile.TemporaryFile()
        try:  # one streamed GET: ranged parallel GETs gain little here and cost S3 servers such as moto dearly
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            shutil.copyfileobj(body, local, 8 * 1024 * 1024)
        except (ClientError, BotoCoreError) as exc:
            local.close()
            self._read_failed(key, exc)
        local.seek(0)
        return local

    def upload(self, key: str, local: IO[bytes], content_type: str) -> str:
        """Write a local file of any size (in parts when large) to `key`."""
        local.seek(0)
        try:
            self.client.upload_fileobj(local, self.bucket, key, ExtraArgs={"ContentType": content_type})
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"cannot write {self.url(key)}: {exc}") from exc
        return self.url(key)

    def put_bytes(self, key: str, data: bytes, content_type: str) -> str:
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"cannot write {self.url(key)}: {exc}") from exc
        return self.url(key)

    def put_json(self, key: str, document: Any) -> str:
        return self.put_bytes(key, dumps(document), JSON)

    def create_json(self, key: str, document: Any) -> bool:
        """Write `key` only if it does not exist yet (S3's conditional write, atomic); False when it already did.

        Claims a one-time action (an alert sent once) even when two runs race for it."""
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=dumps(document), ContentType=JSON,
                                   IfNoneMatch="*")
        except (ClientError, BotoCoreError) as exc:
            if _error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
                return False
            raise StorageError(f"cannot write {self.url(key)}: {exc}") from exc
        return True

    def copy(self, source_key: str, target_key: str, content_type: str) -> str:
        try:
            self.client.copy_object(
                Bucket=self.bucket, Key=target_key, CopySource={"Bucket": self.bucket, "Key": source_key},
                ContentType=content_type, MetadataDirective="REPLACE",
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"cannot copy {self.url(source_key)} to {self.url(target_key)}: {exc}") from exc
        return self.url(target_key)

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"cannot delete {self.url(key)}: {exc}") from exc

    def keys(self, prefix: str) -> Iterator[str]:
        return (o.key for o in self.list(prefix))


class OverlayStore(ObjectStore):
    """A store that writes only under the `writable` prefixes; every other write is kept in memory, where this
    store's own reads find it (a dry run: the whole flow runs, and the bucket gains nothing outside staging)."""

    def __init__(self, store: ObjectStore, writable: tuple[str, ...]) -> None:
        super().__init__(store.client, store.bucket)
        self.writable = writable
        self.kept: dict[str, bytes | None] = {}  # key -> bytes written here, or None: deleted here

    def _own(self, key: str) -> bool:
        return not key.startswith(self.writable)

    def list(self, prefix: str) -> list[StoredObject]:
        found = {o.key: o for o in super().list(prefix) if o.key not in self.kept}
        found.update({k: StoredObject(k, len(v)) for k, v in self.kept.items() if v is not None and k.startswith(prefix)})
        return sorted(found.values(), key=lambda o: o.key)

    def list_level(self, prefix: str) -> tuple[list[StoredObject], list[str]]:
        objects, folders = super().list_level(prefix)
        kept = [k[len(prefix):] for k, v in self.kept.items() if v is not None and k.startswith(prefix)]
        objects += [StoredObject(prefix + k, len(self.kept[prefix + k])) for k in kept if "/" not in k]
        folders += [prefix + k.split("/", 1)[0] + "/" for k in kept if "/" in k]
        return sorted({o.key: o for o in objects}.values(), key=lambda o: o.key), sorted(set(folders))

    def exists(self, key: str) -> bool:
        return self.kept[key] is not None if key in self.kept else super().exists(key)

    def get_bytes(self, key: str) -> bytes:
        if key in self.kept:
            if self.kept[key] is None:
                raise FileNotFoundError(f"{self.url(key)} does not exist")
            return self.kept[key]
        return super().get_bytes(key)

    def download(self, key: str) -> IO[bytes]:
        if key not in self.kept:
            return super().download(key)
        local = tempfile.TemporaryFile()
        local.write(self.get_bytes(key))
        local.seek(0)
        return local

    def upload(self, key: str, local: IO[bytes], content_type: str) -> str:
        if not self._own(key):
            return super().upload(key, local, content_type)
        local.seek(0)
        self.kept[key] = local.read()
        return self.url(key)

    def put_bytes(self, key: str, data: bytes, content_type: str) -> str:
        if not self._own(key):
            return super().put_bytes(key, data, content_type)
        self.kept[key] = data
        return self.url(key)

    def create_json(self, key: str, document: Any) -> bool:
        if not self._own(key):
            return super().create_json(key, document)
        if self.exists(key):
            return False
        self.kept[key] = dumps(document)
        return True

    def copy(self, source_key: str, target_key: str, content_type: str) -> str:
        return self.put_bytes(target_key, self.get_bytes(source_key), content_type)

    def delete(self, key: str) -> None:
        if not self._own(key):
            return super().delete(key)
        self.kept[key] = None
        return None

    @property
    def not_written(self) -> list[str]:
        """The keys this store kept from the bucket (written or deleted here)."""
        return sorted(self.kept)


def _error_code(exc: Exception) -> str | None:
    """S3's error code of a ClientError; None for a connection-level failure."""
    return exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None


def dumps(document: Any) -> bytes:
    """Deterministic JSON: sorted keys, fixed separators, UTF-8, trailing newline."""
    return (json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


DIGITS = 6


def rounded(value: Any) -> Any:
    """`value` with every float rounded to `DIGITS` (non-finite ones as None), as canonical JSON writes it."""
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, DIGITS) + 0.0
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def canonical(model: BaseModel) -> bytes:
    """A pydantic model as deterministic JSON with floats rounded to 6 digits (last-bit noise never shows as a
    change) and non-finite floats as null: the same inputs give the same bytes."""
    return dumps(rounded(model.model_dump(mode="json")))
