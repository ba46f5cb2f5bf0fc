"""Config loading: defaults, file, environment, CLI overrides; errors name the key and the fix."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from core.config import Config, ConfigError, config_from_dict, load_config, redacted

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_are_valid() -> None:
    cfg = load_config(None, env={})
    assert cfg.server.port == 8000 and cfg.server.http_port == 8003 and cfg.audio.sample_rate == 16000
    assert cfg.server.auth.enabled is False


def test_shipped_config_yaml_loads_and_documents_every_key() -> None:
    path = ROOT / "config.yaml"
    cfg = load_config(path, env={})
    assert isinstance(cfg, Config)
    text = path.read_text(encoding="utf-8")

    def keys(obj: object, prefix: str = "") -> list[str]:
        out = []
        for f in dataclasses.fields(obj):  # type: ignore[arg-type]  # obj is a config dataclass
            value = getattr(obj, f.name)
            out += keys(value, f"{prefix}{f.name}.") if dataclasses.is_dataclass(value) else [f.name]
        return out
    missing = [k for k in keys(cfg) if f"{k}:" not in text]
    assert missing == []
    # every key line carries a comment (on the line or just above); section headers are exempt
    lines = text.splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and ":" in stripped and not stripped.endswith(":"):
            assert "#" in line or lines[i - 1].strip().startswith("#"), f"config.yaml line {i + 1} has no comment"


@pytest.mark.parametrize(("raw", "needle"), [
    ({"server": {"prot": 1}}, "unknown key 'server.prot': did you mean 'server.port'?"),
    ({"server": {"port": "eighty"}}, "server.port: expected a whole number, got 'eighty'"),
    ({"audio": {"sample_rate": 44100}}, "audio.sample_rate: 44100 is not allowed; use one of 16000, 24000"),
    ({"server": {"auth": {"enabled": "maybe"}}}, "server.auth.enabled: expected true or false"),
    ({"server": {"auth": {"enabled": True}}}, "set AUTH_TOKENS"),
    ({"content": {"s3": {"url_mode": "cdn"}}}, "content.s3.cdn_base_url"),
    ({"content": {"s3": {"presign_expires_s": 700000}}}, "604800"),
    ({"server": 5}, "server: expected a mapping"),
    ({"voice": {"tts": {"workers": -1}}}, "voice.tts.workers: use 0 (half the CPU cores) or 1-64"),
    ({"voice": {"tts": {"max_reply_chars": 10}}}, "voice.tts.max_reply_chars: use 40-5000"),
    ({"voice": {"tts": {"announce_budget_ms": -1}}}, "voice.tts.announce_budget_ms: use 0-10000"),
    ({"voice": {"tts": {"phrase_cache_mb": 0}}}, "voice.tts.phrase_cache_mb: use 1 or more"),
])
def test_errors_name_key_and_fix(raw: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict(raw)
    assert needle in str(err.value)


def test_env_overrides_and_secrets_are_redacted(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"server": {"port": 9000}}), encoding="utf-8")
    env = {"S3_BUCKET": "my-bucket", "S3_PREFIX_MUSIC": "songs", "AWS_SECRET_ACCESS_KEY": "SUPERSECRET",
           "AUTH_TOKENS": "a, b", "AUTH_ENABLED": "true", "HTTP_PORT": "9003", "S3_URL_MODE": "presigned"}
    cfg = load_config(path, env=env, overrides={"server.host": "127.0.0.1"})
    assert cfg.server.port == 9000 and cfg.server.http_port == 9003 and cfg.server.host == "127.0.0.1"
    assert cfg.content.s3.bucket == "my-bucket" and cfg.content.s3.prefix_music == "songs"
    assert cfg.server.auth.tokens == ("a", "b") and cfg.server.auth.enabled is True
    assert cfg.content.s3.url_mode == "presigned"
    shown = str(redacted(cfg))
    assert "SUPERSECRET" not in shown and "'a'" not in shown and "my-bucket" in shown


def test_bad_yaml_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("server:\n  port: 1\n   host: x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 3"):
        load_config(path, env={})
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml", env={})
