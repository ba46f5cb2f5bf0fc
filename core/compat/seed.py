"""The seed API, kept for plugins written against it: whole-file decode and encode, a clip as Opus frames, and the
streaming URL of a song or story by its folder and file name.

`audio_to_data` downloads (or reads) the whole file, decodes all of it with pydub, and encodes every frame before
returning: fine for a two-second prompt, wrong for a song (seconds of silence, memory that grows with the length).
Long content goes through `core.audio.pipeline.AudioPipeline.frames`. These functions block; call them from
`asyncio.to_thread` in the server path.
"""
from __future__ import annotations

from io import BytesIO

import requests

from core.audio.encode import OpusEncoder, PcmFramer
from core.audio.fetch import looks_like_markup
from core.audio.p3 import P3FormatError, iter_records
from core.audio.types import AudioError, AudioParams
from core.content.service import ContentService

__all__ = ["audio_to_data", "pcm_to_data", "process_audio_file", "generate_s3_music_url", "generate_s3_story_url"]

_FORMATS = {"m4a": "mp4", "aac": "aac", "opus": "ogg", "oga": "ogg"}


MAX_CLIP_BYTES = 256 << 20   # whole-file decoding is for clips; anything near this belongs on the streaming path


def audio_to_data(audio_file_path: str, is_opus: bool = True, *, sample_rate: int = 16000,
                  timeout: float = 30.0) -> tuple[list[bytes], float]:
    """Whole-file: (list of 60 ms frames, duration in seconds). Opus packets when `is_opus`, else raw PCM frames.
    `.p3` files are returned record by record (already 16 kHz Opus). Raises AudioError with a log-safe message."""
    is_url = audio_file_path.startswith(("http://", "https://"))
    bare = audio_file_path.split("?", 1)[0]
    name = bare.rsplit("/", 1)[-1]
    ext = bare.rsplit(".", 1)[-1].lower() if "." in name else "mp3"
    if is_url:
        try:
            resp = requests.get(audio_file_path, stream=True, timeout=timeout)
        except requests.RequestException as exc:
            raise AudioError(f"{name}: download failed ({type(exc).__name__})") from None
        with resp:
            if resp.status_code != 200:
                raise AudioError(f"{name}: HTTP {resp.status_code}")
            buf = BytesIO()
            try:
                for chunk in resp.iter_content(chunk_size=65536):
                    buf.write(chunk)
                    if buf.tell() > MAX_CLIP_BYTES:
                        raise AudioError(f"{name}: larger than {MAX_CLIP_BYTES >> 20} MiB; stream it instead")
            except requests.RequestException as exc:
                raise AudioError(f"{name}: download failed ({type(exc).__name__})") from None
        data = buf.getvalue()
    else:
        try:
            with open(audio_file_path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise AudioError(f"{name}: cannot read ({exc.strerror})") from None
    if not data:
        raise AudioError(f"{name}: empty file")
    if looks_like_markup(data):
        raise AudioError(f"{name}: HTML/XML, not audio")
    if ext == "p3":
        try:
            frames = list(iter_records(data))
        except P3FormatError as exc:
            raise AudioError(f"{name}: {exc}") from None
        return frames, len(frames) * 0.06
    from pydub import AudioSegment  # imported lazily: it spawns ffprobe/ffmpeg and is only used here
    from pydub.exceptions import CouldntDecodeError

    try:
        audio = AudioSegment.from_file(BytesIO(data), format=_FORMATS.get(ext, ext))
    except (CouldntDecodeError, IndexError, OSError) as exc:
        raise AudioError(f"{name}: cannot decode ({type(exc).__name__})") from None
    audio = audio.set_channels(1).set_frame_rate(sample_rate).set_sample_width(2)
    raw = audio.raw_data
    return pcm_to_data(raw, is_opus, sample_rate=sample_rate), len(raw) / (2 * sample_rate)


def pcm_to_data(raw_data: bytes, is_opus: bool = True, *, sample_rate: int = 16000, bitrate: int = 32000,
                complexity: int = 5) -> list[bytes]:
    """s16le mono PCM -> 60 ms frames (the last one zero-padded); Opus packets when `is_opus`, else PCM frames."""
    params = AudioParams(sample_rate=sample_rate)
    framer = PcmFramer(params.frame_bytes)
    pcm = framer.push(raw_data)
    if (last := framer.flush()) is not None:
        pcm.append(last)
    if not is_opus:
        return pcm
    encoder = OpusEncoder(params, bitrate, complexity)
    return [encoder.encode(frame) for frame in pcm]


def process_audio_file(tts_file: str) -> list[bytes]:
    """A short clip (local path or URL) as 16 kHz 60 ms Opus frames, decoded whole (the seed's TTS helper).

    For prompts and notification sounds only; songs and stories always take the streaming pipeline."""
    frames, _duration = audio_to_data(tts_file)
    return frames


def generate_s3_music_url(content: ContentService, language: str, filename: str) -> str:
    """The streaming URL (or local path) of a song; may block briefly on the first `auto` probe."""
    return content.url_of(content.cfg.s3.prefix_music, language, filename)


def generate_s3_story_url(content: ContentService, category: str, filename: str) -> str:
    return content.url_of(content.cfg.s3.prefix_stories, category, filename)
