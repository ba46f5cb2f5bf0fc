"""Sync a local catalog folder to a bucket (operator tool; blocking boto3, not used on the server path).

Unchanged objects are skipped by size + MD5 (the ETag of single-part uploads; multipart objects carry the MD5 in
their ``md5`` user metadata). Catalog files are uploaded last so a catalog never lists audio not yet uploaded; with
``delete``, objects under the content prefixes that the folder no longer has are removed after that, so the bucket
mirrors the folder and no live catalog ever names a deleted file.
"""
from __future__ import annotations

import hashlib
import json
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from core.content.storage import describe_s3_error

__all__ = ["SyncSummary", "sync_dir", "ensure_bucket", "make_public", "plan_files"]

_MULTIPART_THRESHOLD = 64 * 1024 * 1024


@dataclass(slots=True)
class SyncSummary:
    uploaded: int = 0
    uploaded_bytes: int = 0
    skipped: int = 0
    deleted: int = 0
    failed: list[str] = field(default_factory=list)
    bucket_missing: bool = False          # dry run against a bucket that does not exist yet

    def __str__(self) -> str:
        return (f"uploaded {self.uploaded} objects ({self.uploaded_bytes / 1e6:.1f} MB), "
                f"skipped {self.skipped} unchanged, deleted {self.deleted}, {len(self.failed)} failed")


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def plan_files(root: Path, prefixes: Mapping[str, str]) -> list[tuple[Path, str]]:
    """(local file, object key) pairs: ``root/<top>/...`` -> ``prefixes[top]/...``; metadata.json files last."""
    pairs: list[tuple[Path, str]] = []
    for top, prefix in prefixes.items():
        base = root / top
        if not base.is_dir():
            continue
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            rel = path.relative_to(base).as_posix()
            if any(part.startswith(".") for part in rel.split("/")) or rel.endswith(".part"):
                continue
            pairs.append((path, "/".join(p for p in (prefix.strip("/"), rel) if p)))
    pairs.sort(key=lambda pk: pk[1].endswith("/metadata.json"))
    return pairs


def _remote(client: Any, bucket: str, prefixes: Mapping[str, str]) -> dict[str, tuple[int, str]]:
    out: dict[str, tuple[int, str]] = {}
    paginator = client.get_paginator("list_objects_v2")
    for prefix in {p.strip("/") for p in prefixes.values()}:
        for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}/" if prefix else ""):
            for obj in page.get("Contents", []):
                out[obj["Key"]] = (int(obj["Size"]), obj["ETag"].strip('"'))
    return out


def _unchanged(client: Any, bucket: str, key: str, size: int, md5: str, remote: tuple[int, str] | None) -> bool:
    if remote is None or remote[0] != size:
        return False
    if "-" not in remote[1]:
        return remote[1] == md5
    head = client.head_object(Bucket=bucket, Key=key)      # multipart ETag: compare the MD5 we stored
    return bool(head.get("Metadata", {}).get("md5") == md5)


def sync_dir(client: Any, bucket: str, root: Path, prefixes: Mapping[str, str], *, progress: bool = True,
             dry_run: bool = False, delete: bool = False) -> SyncSummary:
    from boto3.s3.transfer import TransferConfig
    from tqdm import tqdm

    files = plan_files(root, prefixes)
    summary = SyncSummary()
    try:
        remote = _remote(client, bucket, prefixes)
    except Exception as exc:  # noqa: BLE001 - reported with bucket/region/cause
        err = describe_s3_error(exc, bucket=bucket, region=client.meta.region_name)
        if not (dry_run and err.code == "NoSuchBucket"):
            raise err from None
        remote, summary.bucket_missing = {}, True      # a plan before the bucket exists: everything is new
    transfer = TransferConfig(multipart_threshold=_MULTIPART_THRESHOLD, max_concurrency=4)
    total = sum(p.stat().st_size for p, _ in files)
    with tqdm(total=total, unit="B", unit_scale=True, desc="upload", disable=not progress) as bar:
        for path, key in files:
            size = path.stat().st_size
            md5 = _md5(path)
            try:
                if _unchanged(client, bucket, key, size, md5, remote.get(key)):
                    summary.skipped += 1
                    bar.update(size)
                    continue
                if not dry_run:
                    ctype = ("application/json; charset=utf-8" if path.name.endswith(".json")
                             else mimetypes.guess_type(path.name)[0] or "application/octet-stream")
                    client.upload_file(str(path), bucket, key, Config=transfer, Callback=None,
                                       ExtraArgs={"ContentType": ctype, "Metadata": {"md5": md5}})
                summary.uploaded += 1
                summary.uploaded_bytes += size
            except Exception as exc:  # noqa: BLE001 - one failed object never stops the sync
                err = describe_s3_error(exc, bucket=bucket, region=client.meta.region_name, key=key)
                logger.error("upload failed: {}", err)
                summary.failed.append(f"{key}: {err}")
            bar.update(size)
    if delete:
        local = {key for _, key in files}
        stale = sorted(k for k in remote if k not in local)
        # Audio first, catalogs last, mirroring the upload order: a catalog is never left naming a deleted file.
        stale.sort(key=lambda k: not k.endswith("/metadata.json"))
        for i in range(0, len(stale), 1000):
            batch = stale[i:i + 1000]
            if dry_run:
                summary.deleted += len(batch)
                continue
            try:
                resp = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch],
                                                                   "Quiet": True})
            except Exception as exc:  # noqa: BLE001 - reported, the summary says what failed
                err = describe_s3_error(exc, bucket=bucket, region=client.meta.region_name)
                summary.failed += [f"{k}: delete: {err}" for k in batch]
                continue
            errors = resp.get("Errors", [])
            summary.failed += [f"{e.get('Key')}: delete: {e.get('Code')}" for e in errors]
            summary.deleted += len(batch) - len(errors)
    return summary


def ensure_bucket(client: Any, bucket: str, region: str) -> None:
    from botocore.exceptions import ClientError

    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region and region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        client.create_bucket(**kwargs)
        logger.info("created bucket {} in {}", bucket, region)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
            raise describe_s3_error(exc, bucket=bucket, region=region) from None


def make_public(client: Any, bucket: str, prefixes: tuple[str, ...]) -> None:
    """Allow anonymous GetObject under the given prefixes only (the rest of the bucket stays private)."""
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "PublicReadContent", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": [f"arn:aws:s3:::{bucket}/{p.strip('/')}/*" for p in prefixes]}]}
    try:
        client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    except Exception as exc:  # noqa: BLE001 - reported with bucket/region/cause
        err = describe_s3_error(exc, bucket=bucket, region=client.meta.region_name)
        raise type(err)(f"{err} (on AWS, Block Public Access must allow bucket policies for --public)",
                        code=err.code) from None
    logger.info("bucket {}: anonymous read allowed on {}", bucket, ", ".join(f"{p}/*" for p in prefixes))
