"""S3 backend: moto mock_aws unit tests and integration tests against a real HTTP moto server on loopback."""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError
from moto import mock_aws

from core.audio.types import AudioError
from core.compat.seed import generate_s3_music_url
from core.content.catalog import Catalog
from core.content.service import ContentService
from core.content.storage import S3Storage, StorageError, describe_s3_error, make_s3_client
from core.content.types import Kind
from core.content.urls import UrlBuilder
from tests.content_fixtures import (
    ACCESS_KEY,
    SECRET_KEY,
    content_config,
    dead_endpoint,
    make_bucket,
    put_catalog,
    s3_config,
)

AWKWARD_FILES = {
    "Baa Baa Black Sheep.mp3": b"sheep" * 100,
    "Jack & the Beanstalk+1.mp3": b"beans" * 100,
    "Hanuman Chalisa .mp3": b"chalisa" * 100,
    "ಆನೆ ಬಂತೊಂದು ಆನೆ.mp3": b"aane" * 100,
    "Indu maṅgaḷavāra.mp3": b"indu" * 100,
}


def _entries(files: dict[str, bytes]) -> dict[str, dict[str, object]]:
    return {name.rsplit(".", 1)[0]: {"romanized": name.rsplit(".", 1)[0], "filename": name,
                                     "alternatives": ["nursery rhyme"]} for name in files}


def _service(cfg, tmp_path: Path | None = None) -> ContentService:
    c = content_config(cfg, cache_dir=tmp_path or "")
    storage = S3Storage(cfg)
    return ContentService(storage, c, urls=UrlBuilder(cfg, storage.client))


class _Counter:
    """Counts the HTTP requests and response bytes of one boto3 client (botocore event hooks)."""

    def __init__(self, client) -> None:
        self.requests: list[str] = []
        self.statuses: list[int] = []
        self.bytes = 0
        client.meta.events.register("before-send.s3", self._send)
        client.meta.events.register("after-call.s3", self._after)

    def _send(self, request, **_):
        self.requests.append(request.method)

    def _after(self, http_response, **_):
        self.statuses.append(http_response.status_code)
        # Content-Length, not .content: reading it here would consume GetObject's streaming body.
        self.bytes += int(http_response.headers.get("content-length", 0))

    def reset(self) -> None:
        self.requests.clear()
        self.statuses.clear()
        self.bytes = 0


# --------------------------------------------------------------------------- mock_aws unit tests


@pytest.mark.asyncio
@pytest.mark.timeout(30)
async def test_s3_catalog_discovery_conditional_get_and_missing_files() -> None:
    with mock_aws():
        await _discovery_checks()


async def _discovery_checks() -> None:
    cfg = s3_config("", bucket="cheeko-unit")
    client = make_bucket(cfg)
    put_catalog(client, cfg.bucket, "music/English", _entries({"Twinkle.mp3": b"t"}), {"Twinkle.mp3": b"t"})
    put_catalog(client, cfg.bucket, "music/Tamil", {"Kutti": {"filename": "kutti.mp3"}})        # file missing
    put_catalog(client, cfg.bucket, "stories/Fairy Tales", {"Jack": {"filename": "../../escape.mp3"}})
    client.put_object(Bucket=cfg.bucket, Key="music/Empty/readme.txt", Body=b"no catalog here")
    storage = S3Storage(cfg, client=client)
    assert await storage.list_folders("music") == ["Empty", "English", "Tamil"]
    first = await storage.fetch("music/English/metadata.json")
    again = await storage.fetch("music/English/metadata.json", first.etag)
    assert first.body and first.etag == hashlib.md5(first.body).hexdigest() and again.not_modified
    cat = Catalog(storage, prefixes={Kind.MUSIC: "music", Kind.STORY: "stories"}, extensions=(".mp3",))
    await cat.load()
    assert cat.collections(Kind.MUSIC) == ["English", "Tamil"]
    assert cat.collections(Kind.STORY) == ["Fairy Tales"] and cat.tracks(Kind.STORY) == []
    text = "\n".join(map(str, cat.report().issues))
    assert "file not found in storage: 'kutti.mp3'" in text
    assert "filename '../../escape.mp3' tries to leave its folder" in text
    with pytest.raises(StorageError, match="404: the object does not exist") as info:
        await storage.head("music/English/nope.mp3")
    assert info.value.not_found
    # An empty object (validate rejects it; the listing says so without a fetch) is never served.
    put_catalog(client, cfg.bucket, "music/English", _entries({"Twinkle.mp3": b"t", "Hollow.mp3": b""}),
                {"Hollow.mp3": b""})
    await cat.refresh()
    assert [t.title for t in cat.tracks(Kind.MUSIC)] == ["Twinkle"]
    assert "audio file 'Hollow.mp3' is empty (0 bytes); entry skipped" in "\n".join(map(str, cat.report().errors))


@mock_aws
def test_error_messages_name_bucket_region_and_cause() -> None:
    cfg = s3_config("", bucket="cheeko-missing", region="ap-south-1")
    storage = S3Storage(cfg)
    with pytest.raises(StorageError) as info:
        storage._list_folders("music")
    msg = str(info.value)
    assert "s3://cheeko-missing" in msg and "ap-south-1" in msg and "NoSuchBucket" in msg and "S3_BUCKET" in msg
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"},
                          "ResponseMetadata": {"HTTPStatusCode": 403}}, "GetObject")
    err = describe_s3_error(denied, bucket="cheeko-audio-files", region="eu-west-1", key="music/a.mp3")
    assert str(err).startswith("s3://cheeko-audio-files/music/a.mp3 (region eu-west-1): AccessDenied")
    assert "bucket policy" in str(err) and "another region" in str(err)


# --------------------------------------------------------------------------- moto server integration


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_public_policy_presigned_and_awkward_keys_round_trip(s3_endpoint: str) -> None:
    cfg = s3_config(s3_endpoint, url_mode="auto")
    client = make_bucket(cfg)
    put_catalog(client, cfg.bucket, "music/Kannada", _entries(AWKWARD_FILES), AWKWARD_FILES)
    client.put_object(Bucket=cfg.bucket, Key="private/secret.txt", Body=b"not for you")

    # Private bucket: auto mode detects it with one anonymous HEAD and presigns.
    svc = _service(cfg)
    await svc.start()
    try:
        assert svc.urls is not None and svc.urls.effective_mode == "presigned"
        for track in svc.tracks(Kind.MUSIC):
            src = await svc.audio_source(track)
            assert "X-Amz-Signature=" in src.uri and "?" not in src.name
            assert src.name == f"music/Kannada/{track.filename}"
            assert src.cache_key == f"s3://{cfg.bucket}/music/Kannada/{track.filename}"
            body = AWKWARD_FILES[track.filename]
            assert src.etag == hashlib.md5(body).hexdigest() and src.size == len(body)
            assert requests.get(src.uri, timeout=10).content == body
            assert requests.get(svc.urls.public_url(src.name), timeout=10).status_code == 403
            assert src.refresh_url is not None
            assert requests.get(await src.refresh_url(), timeout=10).content == body
    finally:
        await svc.close()

    # Public-read policy on music/ and stories/: plain anonymous GETs work, the rest stays private.
    from core.content.upload import make_public

    make_public(client, cfg.bucket, ("music", "stories"))
    svc = _service(cfg)
    await svc.start()
    try:
        assert svc.urls.effective_mode == "public"
        for name, body in AWKWARD_FILES.items():
            url = generate_s3_music_url(svc, "Kannada", name)
            assert url.startswith(f"{s3_endpoint}/{cfg.bucket}/music/Kannada/") and "X-Amz" not in url
            assert requests.get(url, timeout=10).content == body
        track = svc.tracks(Kind.MUSIC)[0]
        assert (await svc.audio_source(track)).refresh_url is None
        assert requests.get(svc.urls.public_url("private/secret.txt"), timeout=10).status_code == 403
        missing = dataclasses.replace(track, filename="gone.mp3")
        with pytest.raises(AudioError, match="missing"):
            await svc.audio_source(missing)
    finally:
        await svc.close()


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_unchanged_refresh_costs_one_small_request_per_catalog(s3_endpoint: str, tmp_path: Path) -> None:
    cfg = s3_config(s3_endpoint, url_mode="presigned")
    client = make_bucket(cfg)
    big = {f"Song {i}": {"romanized": f"Song {i}", "filename": f"Song {i}.mp3", "alternatives": [f"s{i}"]}
           for i in range(300)}
    put_catalog(client, cfg.bucket, "music/English", big, {f"Song {i}.mp3": b"x" for i in range(300)})
    put_catalog(client, cfg.bucket, "stories/Bedtime", {"Moon": {"filename": "moon.mp3"}}, {"moon.mp3": b"m"})
    svc = _service(cfg, tmp_path)
    counter = _Counter(svc.storage.client)
    await svc.start()
    assert len(svc.tracks()) == 301 and svc.version == 1
    counter.reset()
    assert await svc.refresh() is False and svc.version == 1
    # 2 listings (music/, stories/) + one conditional GET per catalog, answered 304 with no body.
    assert counter.requests == ["GET"] * 4
    assert sorted(counter.statuses) == [200, 200, 304, 304]
    assert counter.bytes < 2000
    # One catalog changes: only that one is downloaded again.
    put_catalog(client, cfg.bucket, "stories/Bedtime", {"Moon": {"filename": "moon.mp3"},
                                                        "Stars": {"filename": "moon.mp3"}})
    counter.reset()
    assert await svc.refresh() is True and svc.version == 2
    assert sorted(counter.statuses) == [200, 200, 200, 200, 304]     # + a listing of the changed folder
    assert {t.title for t in svc.tracks(Kind.STORY)} == {"Moon", "Stars"}
    # A play needs no S3 request before its stream: size and ETag come from the listing, presigning is local.
    counter.reset()
    src = await svc.audio_source(svc.tracks(Kind.MUSIC)[0])
    assert counter.requests == []
    assert src.etag == hashlib.md5(b"x").hexdigest() and src.size == 1 and "X-Amz-Signature=" in src.uri
    await svc.close()


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_startup_from_disk_cache_when_s3_is_down(s3_endpoint: str, tmp_path: Path,
                                                       captured_logs) -> None:
    cfg = s3_config(s3_endpoint)
    client = make_bucket(cfg)
    put_catalog(client, cfg.bucket, "music/Hindi", {"हनुमान चालीसा": {"romanized": "Hanuman Chalisa",
                                                                    "filename": "Hanuman Chalisa .mp3"}},
                {"Hanuman Chalisa .mp3": b"x"})
    put_catalog(client, cfg.bucket, "music/English", _entries({"Twinkle.mp3": b"t"}), {"Twinkle.mp3": b"t"})
    svc = _service(cfg, tmp_path)
    await svc.start()
    before = svc.tracks()
    await svc.close()
    assert len(before) == 2

    down = dataclasses.replace(cfg, endpoint_url=dead_endpoint())
    svc = _service(down, tmp_path)
    await svc.start()                                  # must not raise
    try:
        assert svc.from_cache and svc.tracks() == before
        assert svc.collections(Kind.MUSIC) == ["English", "Hindi"]
        assert "serving the last good copy of 2 catalogs" in captured_logs.text
        assert "endpoint unreachable" in captured_logs.text
        assert await svc.refresh() is False and svc.tracks() == before      # still down: keep everything
        report = svc.validation_report()
        assert not report.ok and "cannot list catalogs" in str(report.errors[0])
    finally:
        await svc.close()


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_malformed_catalog_in_one_collection_keeps_the_others(s3_endpoint: str, tmp_path: Path,
                                                                    captured_logs) -> None:
    cfg = s3_config(s3_endpoint)
    client = make_bucket(cfg)
    put_catalog(client, cfg.bucket, "music/English", _entries({"Twinkle.mp3": b"t"}), {"Twinkle.mp3": b"t"})
    put_catalog(client, cfg.bucket, "music/Telugu", {"చిట్టి చిలకమ్మ": {"filename": "Chitti Chilakamma.mp3"}},
                {"Chitti Chilakamma.mp3": b"c"})
    put_catalog(client, cfg.bucket, "stories/Bedtime", b'{"Moon": {"filename": "moon.mp3",}}')
    svc = _service(cfg, tmp_path)
    await svc.start()
    try:
        assert svc.collections(Kind.MUSIC) == ["English", "Telugu"] and len(svc.tracks()) == 2
        assert "s3://cheeko-test/stories/Bedtime/metadata.json is unusable: malformed JSON" in captured_logs.text
        # Now break Telugu with a non-UTF-8 file: its last good copy stays.
        put_catalog(client, cfg.bucket, "music/Telugu", "{\"x\": 1}".encode("utf-16"))
        assert await svc.refresh() is False
        assert [t.title for t in svc.tracks(Kind.MUSIC) if t.collection == "Telugu"] == ["చిట్టి చిలకమ్మ"]
        assert "s3://cheeko-test/music/Telugu/metadata.json is unusable: not UTF-8" in captured_logs.text
    finally:
        await svc.close()


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_access_denied_is_explained_and_the_server_keeps_running(s3_endpoint: str,
                                                                       captured_logs) -> None:
    cfg = s3_config(s3_endpoint, url_mode="presigned")
    client = make_bucket(cfg)
    put_catalog(client, cfg.bucket, "music/English", _entries({"Twinkle.mp3": b"t"}), {"Twinkle.mp3": b"t"})
    anonymous = S3Storage(cfg, client=make_s3_client(cfg, unsigned=True))
    svc = ContentService(anonymous, content_config(cfg), urls=UrlBuilder(cfg, anonymous.client))
    await svc.start()
    try:
        assert svc.tracks() == []
        err = str(svc.validation_report().errors[0])
        assert "s3://cheeko-test/music/English/metadata.json" in err and "region us-east-1" in err and "403" in err
        assert "bucket policy" in err
        assert "403: the credentials lack permission" in captured_logs.text
    finally:
        await svc.close()


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_secrets_never_reach_the_logs(s3_endpoint: str, tmp_path: Path, captured_logs) -> None:
    cfg = s3_config(s3_endpoint, url_mode="presigned")
    client = make_bucket(cfg)
    put_catalog(client, cfg.bucket, "music/Kannada", _entries(AWKWARD_FILES), AWKWARD_FILES)
    put_catalog(client, cfg.bucket, "stories/Broken", b"\xff\xfe")
    svc = _service(cfg, tmp_path)
    await svc.start()
    for t in svc.tracks():
        src = await svc.audio_source(t)
        await src.refresh_url()
    with pytest.raises(AudioError):
        await svc.audio_source(dataclasses.replace(svc.tracks()[0], filename="gone.mp3"))
    await svc.close()
    down = _service(dataclasses.replace(cfg, endpoint_url=dead_endpoint()), tmp_path)
    await down.start()
    await down.close()
    logs = captured_logs.text
    assert "presigned a GET for s3://cheeko-test/music/Kannada/" in logs      # the key is logged...
    for secret in (SECRET_KEY, ACCESS_KEY, "X-Amz-Signature", "X-Amz-Credential", "Authorization"):
        assert secret not in logs                                             # ...never the URL or keys


@pytest.mark.asyncio
@pytest.mark.timeout(90)
async def test_a_cached_song_plays_while_s3_is_down(tmp_path: Path) -> None:
    """Nothing is asked of S3 between a request and its stream, so a song in the transcode cache plays through an
    outage: here the S3 server is stopped after the first play, and the second play is the real tone."""
    from moto.server import ThreadedMotoServer

    from core.audio.pipeline import AudioPipeline
    from core.audio.types import AudioParams
    from core.config import AudioConfig
    from tests.audio_fixtures import assert_tone, make_tone

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    cfg = s3_config(f"http://{host}:{port}", url_mode="presigned")
    song = make_tone(tmp_path / "tone.mp3", "mp3", seconds=3.0).read_bytes()
    put_catalog(make_bucket(cfg), cfg.bucket, "music/English", _entries({"Tone.mp3": song}), {"Tone.mp3": song})
    svc = _service(cfg, tmp_path / "catalog")
    pipe = AudioPipeline(AudioConfig(cache_dir=str(tmp_path / "audio-cache")), AudioParams())
    stopped = False
    await pipe.start()
    try:
        await svc.start()
        track = svc.tracks(Kind.MUSIC)[0]
        first = [p async for p in pipe.frames(await svc.audio_source(track))]
        assert_tone(first, 16000, 3.0)
        assert pipe.stats()["cache_hits"] == 0
        server.stop()
        stopped = True
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://{host}:{port}/", timeout=2)          # S3 is really gone
        again = [p async for p in pipe.frames(await svc.audio_source(track))]
        assert_tone(again, 16000, 3.0)
        assert pipe.stats()["cache_hits"] == 1
    finally:
        await pipe.close()
        await svc.close()
        if not stopped:
            server.stop()
