"""`catalog upload` as a sync against a real moto S3 server: --dry-run before the bucket exists, NoSuchBucket names
--create-bucket, --delete makes the bucket mirror the folder (only under the content prefixes)."""
from __future__ import annotations

import argparse
from pathlib import Path

import boto3
import pytest

from core.cli import catalog as catalog_cli
from tests.content_fixtures import ACCESS_KEY, SECRET_KEY

pytestmark = pytest.mark.timeout(120)
BUCKET = "mirror-test"


def _upload(*argv: str) -> int:
    p = argparse.ArgumentParser()
    catalog_cli.register(p.add_subparsers(dest="command"))
    args = p.parse_args(["catalog", "upload", *argv, "--no-progress"])
    return args.func(args)


@pytest.fixture
def env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> object:
    for var, value in {"S3_ENDPOINT_URL": s3_endpoint, "S3_BUCKET": BUCKET, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                       "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(var, value)
    return boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, region_name="us-east-1")


def _library(root: Path) -> Path:
    folder = root / "music" / "Rhymes"
    folder.mkdir(parents=True)
    for name in ("a.mp3", "b.mp3"):
        (folder / name).write_bytes(name.encode() * 100)
    (folder / "metadata.json").write_text('{"A": {"filename": "a.mp3"}, "B": {"filename": "b.mp3"}}')
    return root


def _keys(client: object) -> set[str]:
    listing = client.list_objects_v2(Bucket=BUCKET)  # type: ignore[attr-defined]  # boto3 client: no stubs
    return {o["Key"] for o in listing.get("Contents", [])}


def test_dry_run_before_the_bucket_exists_and_no_such_bucket_hint(env: object, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    lib = _library(tmp_path / "lib")
    assert _upload(str(lib), "--dry-run") == 0
    out = capsys.readouterr().out
    assert f"s3://{BUCKET} does not exist yet; pass --create-bucket to create it" in out
    assert "would have uploaded 3 objects" in out
    assert _upload(str(lib)) == 1
    err = capsys.readouterr().err
    assert "NoSuchBucket" in err and "pass --create-bucket to create it" in err
    assert SECRET_KEY not in err


def test_delete_mirrors_the_folder_within_the_content_prefixes(env: object, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    client = env
    lib = _library(tmp_path / "lib")
    assert _upload(str(lib), "--create-bucket") == 0
    client.put_object(  # type: ignore[attr-defined]  # boto3 client: no stubs
        Bucket=BUCKET, Key="backups/keep.txt", Body=b"not content")
    (lib / "music" / "Rhymes" / "b.mp3").unlink()
    (lib / "music" / "Rhymes" / "metadata.json").write_text('{"A": {"filename": "a.mp3"}}')
    capsys.readouterr()
    assert _upload(str(lib)) == 0                                    # without --delete nothing is removed
    assert "music/Rhymes/b.mp3" in _keys(client)
    assert _upload(str(lib), "--delete", "--dry-run") == 0
    assert "would have uploaded 0 objects (0.0 MB), skipped 2 unchanged, deleted 1, 0 failed" in capsys.readouterr().out
    assert "music/Rhymes/b.mp3" in _keys(client)                     # a dry run deletes nothing
    assert _upload(str(lib), "--delete") == 0
    assert "deleted 1" in capsys.readouterr().out
    assert _keys(client) == {"music/Rhymes/a.mp3", "music/Rhymes/metadata.json", "backups/keep.txt"}
