"""Storage backends for catalogs and audio: a local folder and an S3 bucket with the same layout.

Keys are bucket-style paths relative to the root (``music/English/metadata.json``). Both backends expose the same
async interface; S3 calls are blocking boto3 calls run in worker threads. Error messages are log-safe: they name
bucket, region and key, never credentials or signed URLs.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from loguru import logger

if TYPE_CHECKING:
    from core.config import S3Config

__all__ = ["ObjectInfo", "Fetched", "StorageError", "Storage", "LocalStorage", "S3Storage",
           "describe_s3_error", "make_s3_client"]


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    etag: str                      # S3 ETag without quotes, or f"{mtime_ns}-{size}" for local files


@dataclass(frozen=True, slots=True)
class Fetched:
    """Result of a conditional read: `body` is None when the object is unchanged (HTTP 304)."""
    key: str
    body: bytes | None
    etag: str | None

    @property
    def not_modified(self) -> bool:
        return self.body is None


class StorageError(Exception):
    """A storage operation failed. The message is log-safe; `code` is the S3 error code or a local reason."""

    def __init__(self, message: str, *, code: str = "", key: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.key = key

    @property
    def not_found(self) -> bool:
        return self.code in {"404", "NoSuchKey", "NotFound", "ENOENT"}


@runtime_checkable
class Storage(Protocol):
    """What the catalog and the content service need from a backend."""

    @property
    def description(self) -> str: ...               # "s3://bucket" or an absolute folder, for logs and cache names

    def cache_key(self, key: str) -> str: ...        # stable identity of an object for the transcode cache

    async def list_folders(self, prefix: str) -> list[str]: ...      # direct sub-folders of prefix/

    async def list_objects(self, prefix: str) -> dict[str, ObjectInfo]: ...  # every object under prefix/

    async def fetch(self, key: str, etag: str | None = None) -> Fetched: ...  # conditional GET

    async def head(self, key: str) -> ObjectInfo: ...                 # raises StorageError(not_found) when absent

    async def close(self) -> None: ...


_MAX_CATALOG_BYTES = 32 * 1024 * 1024     # a metadata.json this big is a mistake, not a catalog


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


# --------------------------------------------------------------------------- local folder


class _BlockingStorage:
    """The async Storage methods, run in a thread over each backend's blocking implementation."""

    def _list_folders(self, prefix: str) -> list[str]:
        raise NotImplementedError

    def _list_objects(self, prefix: str) -> dict[str, ObjectInfo]:
        raise NotImplementedError

    def _fetch(self, key: str, etag: str | None) -> Fetched:
        raise NotImplementedError

    def _head(self, key: str) -> ObjectInfo:
        raise NotImplementedError

    async def list_folders(self, prefix: str) -> list[str]:
        return await asyncio.to_thread(self._list_folders, prefix)

    async def list_objects(self, prefix: str) -> dict[str, ObjectInfo]:
        return await asyncio.to_thread(self._list_objects, prefix)

    async def fetch(self, key: str, etag: str | None = None) -> Fetched:
        return await asyncio.to_thread(self._fetch, key, etag)

    async def head(self, key: str) -> ObjectInfo:
        return await asyncio.to_thread(self._head, key)


class LocalStorage(_BlockingStorage):
    """A folder laid out like the bucket. ETags are f"{mtime_ns}-{size}", so refresh costs one stat per catalog."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    @property
    def description(self) -> str:
        return str(self.root)

    def path_for(self, key: str) -> Path:
        # Lexical check (not resolve()) so an operator may symlink collection folders into the library,
        # while keys from catalogs can never climb out of it with "..".
        path = Path(os.path.normpath(self.root / key))
        if path != self.root and self.root not in path.parents:
            raise StorageError(f"key {key!r} points outside {self.root}", code="traversal", key=key)
        return path

    def cache_key(self, key: str) -> str:
        return f"file:{self.path_for(key)}"

    @staticmethod
    def _info(key: str, st: os.stat_result) -> ObjectInfo:
        return ObjectInfo(key=key, size=st.st_size, etag=f"{st.st_mtime_ns}-{st.st_size}")

    def _list_folders(self, prefix: str) -> list[str]:
        base = self.path_for(prefix)
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))

    def _list_objects(self, prefix: str) -> dict[str, ObjectInfo]:
        base = self.path_for(prefix)
        out: dict[str, ObjectInfo] = {}
        if not base.is_dir():
            return out
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                full = Path(dirpath) / name
                key = full.relative_to(self.root).as_posix()
                try:
                    out[key] = self._info(key, full.stat())
                except OSError:        # a dangling symlink or a file removed meanwhile: just not there
                    continue
        return out

    def _fetch(self, key: str, etag: str | None) -> Fetched:
        path = self.path_for(key)
        try:
            st = path.stat()
            info = self._info(key, st)
            if etag is not None and etag == info.etag:
                return Fetched(key, None, etag)
            return Fetched(key, path.read_bytes(), info.etag)
        except FileNotFoundError:
            raise StorageError(f"{path} does not exist", code="ENOENT", key=key) from None
        except OSError as exc:
            raise StorageError(f"{path}: {exc.strerror}", code="EIO", key=key) from None

    def _head(self, key: str) -> ObjectInfo:
        path = self.path_for(key)
        try:
            return self._info(key, path.stat())
        except FileNotFoundError:
            raise StorageError(f"{path} does not exist", code="ENOENT", key=key) from None
        except OSError as exc:
            raise StorageError(f"{path}: {exc.strerror}", code="EIO", key=key) from None

    async def close(self) -> None:
        return None


# --------------------------------------------------------------------------- S3


def make_s3_client(cfg: S3Config, *, unsigned: bool = False) -> Any:
    """One boto3 S3 client: SigV4 always, pooled connections, bounded timeouts, standard retries.

    Credentials come from the standard chain (env, profile, instance role); explicit keys only when configured.
    """
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config as BotoConfig
    from botocore.exceptions import BotoCoreError

    s3_opts: dict[str, Any] = {"addressing_style": "path" if cfg.endpoint_url else "virtual"}
    boto_cfg = BotoConfig(
        region_name=cfg.region,
        signature_version=UNSIGNED if unsigned else "s3v4",
        retries={"max_attempts": cfg.max_attempts, "mode": "standard"},
        connect_timeout=cfg.connect_timeout_s,
        read_timeout=cfg.read_timeout_s,
        max_pool_connections=cfg.max_pool_connections,
        s3=s3_opts,
    )
    session_kwargs: dict[str, Any] = {"region_name": cfg.region}
    if cfg.profile:
        session_kwargs["profile_name"] = cfg.profile
    if cfg.access_key_id and cfg.secret_access_key:
        session_kwargs["aws_access_key_id"] = cfg.access_key_id
        session_kwargs["aws_secret_access_key"] = cfg.secret_access_key
        if cfg.session_token:
            session_kwargs["aws_session_token"] = cfg.session_token
    try:
        session = boto3.session.Session(**session_kwargs)
        if not unsigned and _is_loopback(cfg.endpoint_url) and session.get_credentials() is None:
            # Local emulators (moto for `make run-s3` and tests) accept any key; real endpoints never get here.
            logger.info("no AWS credentials found for the local endpoint {}: using placeholder credentials",
                        cfg.endpoint_url)
            session = boto3.session.Session(region_name=cfg.region, aws_access_key_id="testing",
                                            aws_secret_access_key="testing")
        return session.client("s3", endpoint_url=cfg.endpoint_url or None, config=boto_cfg)
    except BotoCoreError as exc:
        # e.g. ProfileNotFound: its message names the profile only.
        raise StorageError(f"cannot create the S3 client: {exc}; check content.s3.profile / AWS_PROFILE",
                           code=type(exc).__name__) from None


def _is_loopback(url: str) -> bool:
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname if url else None
    return host in {"127.0.0.1", "localhost", "::1"}


_CAUSES = {
    "AccessDenied": "the credentials lack s3:GetObject/s3:ListBucket on this bucket, a bucket policy denies them, "
                    "or the bucket lives in another region",
    "403": "the credentials lack permission for this object, a bucket policy denies it, or the region is wrong",
    "InvalidAccessKeyId": "the access key id is unknown to this endpoint; check AWS_ACCESS_KEY_ID / the profile",
    "SignatureDoesNotMatch": "the secret key does not match the access key id; check AWS_SECRET_ACCESS_KEY",
    "ExpiredToken": "the session token has expired; refresh AWS_SESSION_TOKEN or the profile's credentials",
    "NoSuchBucket": "the bucket does not exist; check S3_BUCKET (content.s3.bucket)",
    "PermanentRedirect": "the bucket is in another region; set AWS_DEFAULT_REGION (content.s3.region) to its region",
    "AuthorizationHeaderMalformed": "the region is wrong for this bucket; set AWS_DEFAULT_REGION to its region",
    "301": "the bucket is in another region; set AWS_DEFAULT_REGION (content.s3.region) to its region",
    "NoSuchKey": "the object does not exist",
    "404": "the object does not exist",
}


def describe_s3_error(exc: BaseException, *, bucket: str, region: str, key: str = "") -> StorageError:
    """Turn a botocore exception into a StorageError naming bucket, region, key and the likely cause."""
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    where = f"s3://{bucket}/{key}" if key else f"s3://{bucket}"
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
        cause = _CAUSES.get(code) or _CAUSES.get(str(status)) or err.get("Message", "")
        return StorageError(f"{where} (region {region}): {code or status}: {cause}", code=code, key=key)
    if isinstance(exc, NoCredentialsError):
        return StorageError(f"{where} (region {region}): no AWS credentials found; set AWS_ACCESS_KEY_ID and "
                            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or attach an instance role", code="NoCredentials",
                            key=key)
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
        return StorageError(f"{where} (region {region}): endpoint unreachable; check S3_ENDPOINT_URL / network",
                            code="Unreachable", key=key)
    if isinstance(exc, ReadTimeoutError):
        return StorageError(f"{where} (region {region}): read timed out", code="Timeout", key=key)
    return StorageError(f"{where} (region {region}): {type(exc).__name__}", code=type(exc).__name__, key=key)


class S3Storage(_BlockingStorage):
    """An S3 bucket (or S3-compatible endpoint, path-style) through one shared, pooled boto3 client."""

    def __init__(self, cfg: S3Config, *, client: Any | None = None) -> None:
        self.cfg = cfg
        self.bucket = cfg.bucket
        self.region = cfg.region
        self.client = client if client is not None else make_s3_client(cfg)

    @property
    def description(self) -> str:
        return f"s3://{self.bucket}"

    def cache_key(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _err(self, exc: BaseException, key: str = "") -> StorageError:
        return describe_s3_error(exc, bucket=self.bucket, region=self.region, key=key)

    def _pages(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        yield from paginator.paginate(Bucket=self.bucket, **kwargs)

    def _list_folders(self, prefix: str) -> list[str]:
        base = _join(prefix) + "/" if _join(prefix) else ""
        names: list[str] = []
        try:
            for page in self._pages(Prefix=base, Delimiter="/"):
                for cp in page.get("CommonPrefixes", []):
                    names.append(cp["Prefix"][len(base):].rstrip("/"))
        except Exception as exc:  # noqa: BLE001 - every botocore failure becomes a log-safe StorageError
            raise self._err(exc, base) from None
        return names

    def _list_objects(self, prefix: str) -> dict[str, ObjectInfo]:
        base = _join(prefix) + "/" if _join(prefix) else ""
        out: dict[str, ObjectInfo] = {}
        try:
            for page in self._pages(Prefix=base):
                for obj in page.get("Contents", []):
                    out[obj["Key"]] = ObjectInfo(obj["Key"], int(obj["Size"]), obj["ETag"].strip('"'))
        except Exception as exc:  # noqa: BLE001 - every botocore failure becomes a log-safe StorageError
            raise self._err(exc, base) from None
        return out

    def _fetch(self, key: str, etag: str | None) -> Fetched:
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if etag:
            kwargs["IfNoneMatch"] = f'"{etag}"'
        try:
            resp = self.client.get_object(**kwargs)
            if int(resp.get("ContentLength") or 0) > _MAX_CATALOG_BYTES:
                resp["Body"].close()
                raise StorageError(f"s3://{self.bucket}/{key} is {resp['ContentLength']} bytes; a catalog may be "
                                   f"at most {_MAX_CATALOG_BYTES} bytes", code="TooLarge", key=key)
            body = resp["Body"].read()
            return Fetched(key, body, str(resp.get("ETag", "")).strip('"') or None)
        except StorageError:
            raise
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 304 or exc.response.get("Error", {}).get("Code") in {"304", "NotModified"}:
                return Fetched(key, None, etag)
            raise self._err(exc, key) from None
        except Exception as exc:  # noqa: BLE001 - every botocore failure becomes a log-safe StorageError
            raise self._err(exc, key) from None

    def _head(self, key: str) -> ObjectInfo:
        try:
            resp = self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:  # noqa: BLE001 - every botocore failure becomes a log-safe StorageError
            raise self._err(exc, key) from None
        return ObjectInfo(key, int(resp.get("ContentLength", 0)), str(resp.get("ETag", "")).strip('"'))

    async def close(self) -> None:
        try:
            await asyncio.to_thread(self.client.close)
        except Exception as exc:  # noqa: BLE001 - closing must never raise during shutdown
            logger.debug("closing the S3 client failed: {}", type(exc).__name__)
