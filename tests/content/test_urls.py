"""URL builder: region-correct public URLs, CDN, SigV4 presigning with caching, key encoding."""
from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from core.config import ConfigError, S3Config, load_config
from core.content.storage import make_s3_client
from core.content.urls import MAX_PRESIGN_S, UrlBuilder

AWKWARD = {
    "music/English/Baa Baa Black Sheep.mp3": "music/English/Baa%20Baa%20Black%20Sheep.mp3",
    "stories/Fairy Tales/Jack & the Beanstalk+1.mp3": "stories/Fairy%20Tales/Jack%20%26%20the%20Beanstalk%2B1.mp3",
    "music/Hindi/Hanuman Chalisa .mp3": "music/Hindi/Hanuman%20Chalisa%20.mp3",
    "music/Kannada/Indu maṅgaḷavāra.mp3": "music/Kannada/Indu%20ma%E1%B9%85ga%E1%B8%B7av%C4%81ra.mp3",
    "music/Kannada/ಆನೆ.mp3": "music/Kannada/%E0%B2%86%E0%B2%A8%E0%B3%86.mp3",
    "music/x/a~b?c#d%e.mp3": "music/x/a~b%3Fc%23d%25e.mp3",
}


def _builder(**kw) -> UrlBuilder:
    cfg = S3Config(bucket=kw.pop("bucket", "cheeko-audio-files"), access_key_id="AKIDEXAMPLE",
                   secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", **kw)
    return UrlBuilder(cfg, make_s3_client(cfg))


@pytest.mark.parametrize("key, encoded", list(AWKWARD.items()))
def test_public_urls_encode_every_awkward_key(key: str, encoded: str) -> None:
    b = _builder()
    url = b.public_url(key)
    assert url == f"https://cheeko-audio-files.s3.amazonaws.com/{encoded}"
    assert unquote(urlsplit(url).path)[1:] == key          # round-trips exactly, trailing space included


def test_public_url_hosts_follow_region_and_endpoint() -> None:
    key = "music/English/Baa Baa Black Sheep.mp3"
    assert _builder(region="ap-south-1").public_url(key) == \
        "https://cheeko-audio-files.s3.ap-south-1.amazonaws.com/music/English/Baa%20Baa%20Black%20Sheep.mp3"
    assert _builder(bucket="media.example.com", region="eu-west-1").public_url(key).startswith(
        "https://s3.eu-west-1.amazonaws.com/media.example.com/music/")
    assert _builder(endpoint_url="http://127.0.0.1:5055/").public_url(key) == \
        "http://127.0.0.1:5055/cheeko-audio-files/music/English/Baa%20Baa%20Black%20Sheep.mp3"


def test_cdn_and_prefixed_keys() -> None:
    b = _builder(url_mode="cdn", cdn_base_url="https://d123.cloudfront.net/")
    assert b.url_for_key(b.music_key("English", "Jack & Jill.mp3")) == \
        "https://d123.cloudfront.net/music/English/Jack%20%26%20Jill.mp3"
    assert b.url_for_key(b.story_key("Bedtime", "The Sleepy Moon.mp3")) == \
        "https://d123.cloudfront.net/stories/Bedtime/The%20Sleepy%20Moon.mp3"
    b2 = _builder(url_mode="public", prefix_music="/audio/music/")
    assert b2.url_for_key(b2.music_key("Hindi", "Hanuman Chalisa .mp3")).endswith(
        "/audio/music/Hindi/Hanuman%20Chalisa%20.mp3")


def test_presigned_urls_are_sigv4_bounded_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    b = _builder(url_mode="presigned", region="ap-south-1", presign_expires_s=7200)
    signed: list[str] = []
    real_sign = b.client.generate_presigned_url
    b.client.generate_presigned_url = lambda *a, **k: signed.append(k["Params"]["Key"]) or real_sign(*a, **k)
    key = "stories/Fairy Tales/Jack & the Beanstalk+1.mp3"
    url = b.url_for_key(b.story_key("Fairy Tales", "Jack & the Beanstalk+1.mp3"))
    parts = urlsplit(url)
    q = parse_qs(parts.query)
    assert q["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and q["X-Amz-Expires"] == ["7200"]
    assert "/ap-south-1/s3/aws4_request" in q["X-Amz-Credential"][0]
    assert unquote(parts.path).endswith(key)
    assert b.presigned_url(key) == url and len(signed) == 1     # reused while fresh
    import core.content.urls as urls_mod

    real = urls_mod.time.time
    monkeypatch.setattr(urls_mod.time, "time", lambda: real() + 7200 - b.margin_s + 5)
    b.presigned_url(key)                                        # re-signed shortly before expiry
    assert len(signed) == 2
    b.presigned_url(key)
    assert len(signed) == 2                                     # and the new one is reused
    b.presigned_url(key, fresh=True)
    assert signed == [key, key, key]


def test_presign_lifetime_never_exceeds_sigv4_limit() -> None:
    b = UrlBuilder(S3Config(bucket="b-x", presign_expires_s=604800, access_key_id="A", secret_access_key="B"),
                   make_s3_client(S3Config(bucket="b-x", access_key_id="A", secret_access_key="B")))
    q = parse_qs(urlsplit(b.presigned_url("music/a.mp3")).query)
    assert int(q["X-Amz-Expires"][0]) == MAX_PRESIGN_S
    with pytest.raises(ConfigError, match="604800"):
        load_config(env={"S3_BUCKET": "b-x"}, overrides={"content.s3.presign_expires_s": 604801})


def test_env_overrides_select_s3_and_modes() -> None:
    cfg = load_config(env={"S3_BUCKET": "cheeko-audio-files", "S3_ENDPOINT_URL": "http://127.0.0.1:5055",
                           "S3_URL_MODE": "presigned", "S3_PREFIX_MUSIC": "songs"})
    s3 = cfg.content.s3
    assert (s3.bucket, s3.endpoint_url, s3.url_mode, s3.prefix_music) == \
        ("cheeko-audio-files", "http://127.0.0.1:5055", "presigned", "songs")
    with pytest.raises(ConfigError, match="cdn_base_url"):
        load_config(env={"S3_BUCKET": "x-y", "S3_URL_MODE": "cdn"})
