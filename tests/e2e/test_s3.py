"""The whole S3 path through the real server: catalog and audio from a moto S3 server on loopback."""
from __future__ import annotations

import numpy as np
import pytest

from core.content.upload import make_public
from core.device_client import DeviceClient
from tests.audio_fixtures import peak_frequencies
from tests.conftest import TONES, ws_url
from tests.content_fixtures import ACCESS_KEY, SECRET_KEY, make_bucket, s3_config

pytestmark = pytest.mark.timeout(90)


def upload(client, bucket: str, tone_catalog) -> None:
    for path in tone_catalog.rglob("*"):
        if path.is_file():
            client.put_object(Bucket=bucket, Key=path.relative_to(tone_catalog).as_posix(), Body=path.read_bytes())


@pytest.mark.parametrize("mode", ["public", "presigned"])
async def test_play_from_s3(make_config, start_node, tone_catalog, s3_endpoint, mode) -> None:
    s3 = s3_config(s3_endpoint, bucket="cheeko-server-test")
    client = make_bucket(s3)
    upload(client, s3.bucket, tone_catalog)
    if mode == "public":
        make_public(client, s3.bucket, ("music", "stories"))
    cfg = make_config(content={"s3": {"bucket": s3.bucket, "endpoint_url": s3_endpoint, "url_mode": "auto",
                                      "access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY}})
    node = await start_node(cfg)
    async with DeviceClient(ws_url(node)) as device:
        await device.send_text_request("play twinkle twinkle little star")
        await device.wait_json("tts", "stop", timeout=30)
        pcm = device.decode_audio().astype(np.float64)
    freq, secs = TONES["Twinkle Twinkle Little Star"]
    assert abs(len(pcm) / 16000 - secs) <= 0.061
    assert abs(peak_frequencies(pcm, 16000, 1)[0] - freq) < 5
    assert node.rt.content.urls is not None and node.rt.content.urls.signs is (mode == "presigned")
