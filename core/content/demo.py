"""A small but real demo library in the bucket layout, generated at run time (never committed as binaries).

Songs are synthesised melodies (numpy tones piped to ffmpeg -> MP3), each with its own tune; stories and phonics are
narrated with espeak-ng in their language. Entries include native-script titles, tags and alternatives, and a few
awkward file names (spaces, ``&``, ``+``, a trailing space, diacritics, Kannada script) that exercise URL encoding.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from loguru import logger

__all__ = ["generate_demo", "seed_s3", "DEMO_VERSION", "SONGS", "STORIES"]

DEMO_VERSION = "1"
_MARKER = ".demo-version"
_RATE = 22050
_NOTES = {"C": -9, "D": -7, "E": -5, "F": -4, "G": -2, "A": 0, "B": 2}


@dataclass(frozen=True, slots=True)
class Song:
    collection: str
    title: str
    filename: str
    romanized: str
    alternatives: tuple[str, ...]
    tags: tuple[str, ...]
    tune: str = ""                 # "C4:1 C4:1 G4:1 ..." (note:beats); "" = derived from the title
    bpm: int = 120
    speech: str = ""               # narrated instead of played (phonics)
    voice: str = "en-us"


@dataclass(frozen=True, slots=True)
class Story:
    collection: str
    title: str
    filename: str
    romanized: str
    alternatives: tuple[str, ...]
    tags: tuple[str, ...]
    language: str
    voice: str
    text: str
    extra: dict[str, str] = field(default_factory=dict)


_TWINKLE = "C4:1 C4:1 G4:1 G4:1 A4:1 A4:1 G4:2 F4:1 F4:1 E4:1 E4:1 D4:1 D4:1 C4:2"
_BAA = "D4:1 D4:1 A4:1 A4:1 B4:.5 B4:.5 B4:.5 B4:.5 A4:2 G4:1 G4:1 F#4:1 F#4:1 E4:1 E4:1 D4:2"

SONGS: tuple[Song, ...] = (
    Song("English", "Baa Baa Black Sheep", "Baa Baa Black Sheep.mp3", "Baa Baa Black Sheep",
         ("baa baa", "black sheep song", "classic nursery rhyme"), ("nursery rhyme", "calm"), _BAA, 132),
    Song("English", "Twinkle Twinkle Little Star", "Twinkle Twinkle Little Star.mp3", "Twinkle Twinkle Little Star",
         ("twinkle twinkle", "little star", "star song", "classic nursery rhyme"), ("lullaby", "calm"), _TWINKLE, 96),
    Song("English", "Jack and Jill", "Jack & Jill.mp3", "Jack and Jill",
         ("jack & jill", "went up the hill"), ("nursery rhyme", "energetic"), bpm=150),
    Song("English", "The Wheels on the Bus", "The Wheels on the Bus.mp3", "The Wheels on the Bus",
         ("wheels on the bus", "bus song"), ("energetic", "dance"), bpm=160),
    Song("Hindi", "हनुमान चालीसा", "Hanuman Chalisa.mp3", "Hanuman Chalisa",
         ("hanuman", "chalisa", "devotional song", "हनुमान"), ("devotional", "calm"), bpm=84),
    Song("Hindi", "बंदर मामा", "Bandar Mama.mp3", "Bandar Mama",
         ("bandar mama pahan pajama", "monkey song", "बंदर"), ("energetic", "dance", "funny"), bpm=156),
    Song("Hindi", "मछली जल की रानी है", "Machli Jal Ki Rani Hai.mp3", "Machli Jal Ki Rani Hai",
         ("machli", "fish song", "मछली"), ("calm",), bpm=108),
    Song("Telugu", "చిట్టి చిలకమ్మ", "Chitti Chilakamma.mp3", "Chitti Chilakamma",
         ("chilakamma", "parrot song", "చిలకమ్మ"), ("energetic",), bpm=140),
    Song("Telugu", "చందమామ రావే", "Chandamama Rave.mp3", "Chandamama Rave",
         ("chandamama", "moon song", "చందమామ"), ("lullaby", "calm"), bpm=88),
    Song("Kannada", "ಆನೆ ಬಂತೊಂದು ಆನೆ", "ಆನೆ ಬಂತೊಂದು ಆನೆ.mp3", "Aane Bantondu Aane",
         ("aane", "elephant song", "ಆನೆ"), ("energetic", "dance"), bpm=144),
    Song("Kannada", "Kothi Mattu Bale Hannu Haadu ", "Kothi Mattu Bale Hannu Haadu .mp3",
         "Kothi Mattu Bale Hannu Haadu",
         ("kothi", "monkey and banana song"), ("funny",), bpm=128),
    Song("Kannada", "Indu maṅgaḷavāra", "Indu maṅgaḷavāra.mp3", "Indu Mangalavara",
         ("indu mangalavara", "tuesday song"), ("calm",), bpm=100),
    Song("Phonics", "Phonics Song", "Phonics Song.mp3", "Phonics Song",
         ("abc song", "alphabet song", "phonics"), ("educational", "energetic"), bpm=120),
    Song("Phonics", "Letter Sounds A to E", "Letter Sounds A to E.mp3", "Letter Sounds A to E",
         ("letter sounds", "a is for apple"), ("educational",),
         speech="A says a, a, apple. B says b, b, ball. C says c, c, cat. D says d, d, dog. E says e, e, egg."),
)

STORIES: tuple[Story, ...] = (
    Story("Bedtime", "The Sleepy Moon", "The Sleepy Moon.mp3", "The Sleepy Moon", ("sleepy moon", "moon story"),
          ("calm", "lullaby"), "English", "en-us",
          "Once upon a time, the moon felt very sleepy. She said good night to every star, one by one. "
          "The stars twinkled softly, and the whole sky fell asleep. Good night, little one."),
    Story("Fantasy", "The Little Dragon", "The Little Dragon.mp3", "The Little Dragon", ("dragon story",),
          ("magic",), "English", "en-us",
          "In a land of clouds lived a little dragon who could not breathe fire. He breathed bubbles instead. "
          "One day the bubbles carried a lost bird home, and everyone cheered for the bubble dragon."),
    Story("Fantasy", "जादुई पेड़", "Jadui Ped.mp3", "Jadui Ped", ("magic tree", "jadui ped"), ("magic", "calm"),
          "Hindi", "hi",
          "एक गाँव में एक जादुई पेड़ था। उस पर मीठे आम और चमकते तारे उगते थे। "
          "हर रात बच्चे उसके नीचे बैठकर सुंदर सपने देखते थे।"),
    Story("Adventure", "Jack & the Beanstalk+1", "Jack & the Beanstalk+1.mp3", "Jack and the Beanstalk Plus One",
          ("beanstalk", "jack and the beanstalk"), ("adventure", "energetic"), "English", "en-us",
          "Jack planted a magic bean, and it grew up, up, up into the sky. He climbed all the way to the clouds "
          "and found a golden goose, and one more surprise: a friendly giant who loved to sing."),
    Story("Adventure", "అడవిలో సాహసం", "Adavilo Sahasam.mp3", "Adavilo Sahasam", ("forest adventure",),
          ("adventure",), "Telugu", "te",
          "ఒక చిన్న కుందేలు అడవిలోకి వెళ్ళింది. అది ఒక పెద్ద చెట్టు చూసింది. స్నేహితులతో కలిసి ఆడుకుంది."),
    Story("Educational", "The Water Cycle", "The Water Cycle.mp3", "The Water Cycle", ("water cycle", "rain story"),
          ("science",), "English", "en-us",
          "The sun warms the sea, and water rises into the sky as vapour. It cools into clouds. "
          "When the clouds are full, the water falls back as rain, and the cycle starts again."),
    Story("Educational", "ಸೂರ್ಯ ಮತ್ತು ಚಂದ್ರ", "Surya Mattu Chandra.mp3", "Surya Mattu Chandra", ("sun and moon",),
          ("science", "calm"), "Kannada", "kn",
          "ಸೂರ್ಯ ಬೆಳಿಗ್ಗೆ ಬರುತ್ತಾನೆ. ಚಂದ್ರ ರಾತ್ರಿ ಬರುತ್ತಾನೆ. ಇಬ್ಬರೂ ನಮಗೆ ಬೆಳಕು ಕೊಡುತ್ತಾರೆ."),
)


# --------------------------------------------------------------------------- synthesis


def _freq(note: str) -> float:
    name, octave = note[:-1], int(note[-1])
    semis = _NOTES[name[0]] + (1 if name.endswith("#") else 0) + 12 * (octave - 4)
    return 440.0 * 2 ** (semis / 12)


def _tune_for(song: Song) -> list[tuple[float, float]]:
    """(frequency, beats) pairs: the song's own tune, or a pentatonic tune seeded by its title (distinct per song)."""
    if song.tune:
        return [(_freq(n.split(":")[0]), float(n.split(":")[1])) for n in song.tune.split()]
    seed = int.from_bytes(hashlib.sha256(song.filename.encode()).digest()[:8], "big")
    rng = np.random.default_rng(seed)
    root = 196.0 * 2 ** (int(rng.integers(0, 7)) / 12)
    scale = [0, 2, 4, 7, 9, 12, 14, 16]
    steps = rng.choice(scale, size=16)
    beats = rng.choice([0.5, 1.0, 1.0, 2.0], size=16)
    return [(root * 2 ** (s / 12), float(b)) for s, b in zip(steps, beats, strict=True)]


def melody_pcm(tune: Sequence[tuple[float, float]], bpm: int, *, min_s: float = 18.0) -> bytes:
    """Render the tune (repeated up to `min_s` seconds, at most 30 s) as 16-bit mono PCM at 22.05 kHz."""
    beat = 60.0 / bpm
    parts: list[np.ndarray] = []
    total = 0.0
    while total < min_s:
        for f, beats in tune:
            n = int(_RATE * beats * beat)
            t = np.arange(n) / _RATE
            tone = np.sin(2 * np.pi * f * t) + 0.25 * np.sin(4 * np.pi * f * t)
            env = np.minimum(1.0, t / 0.02) * np.exp(-2.2 * t / max(beats * beat, 0.1))
            parts.append(0.35 * tone * env)
            total += n / _RATE
            if total >= 30.0:
                break
    pcm = np.concatenate(parts)
    return bytes((np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes())


def _encode(pcm: bytes, rate: int, out: Path, *, fmt: str = "s16le") -> None:
    tmp = out.with_name(out.name + ".part")
    args = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    args += ["-f", fmt, "-ar", str(rate), "-ac", "1"] if fmt == "s16le" else ["-f", fmt]
    args += ["-i", "pipe:0", "-ac", "1", "-ar", "22050", "-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3", str(tmp)]
    proc = subprocess.run(args, input=pcm, capture_output=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg could not encode {out.name}: {proc.stderr.decode(errors='replace')[-300:]}")
    tmp.replace(out)


def _speak(text: str, voice: str) -> bytes:
    proc = subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "--stdout", text], capture_output=True,
                          timeout=60, check=False)
    if proc.returncode != 0 or not proc.stdout:
        raise RuntimeError(f"espeak-ng failed for voice {voice}: {proc.stderr.decode(errors='replace')[-200:]}")
    return proc.stdout


def _render_song(song: Song, out: Path) -> None:
    if song.speech:
        _encode(_speak(song.speech, song.voice), 0, out, fmt="wav")
    else:
        _encode(melody_pcm(_tune_for(song), song.bpm), _RATE, out)


def _render_story(story: Story, out: Path) -> None:
    _encode(_speak(story.text, story.voice), 0, out, fmt="wav")


# --------------------------------------------------------------------------- library


def _metadata() -> dict[Path, dict[str, dict[str, object]]]:
    cats: dict[Path, dict[str, dict[str, object]]] = {}
    for s in SONGS:
        cats.setdefault(Path("music", s.collection), {})[s.title] = {
            "romanized": s.romanized, "filename": s.filename, "alternatives": list(s.alternatives),
            "tags": list(s.tags)}
    for st in STORIES:
        cats.setdefault(Path("stories", st.collection), {})[st.title] = {
            "romanized": st.romanized, "filename": st.filename, "alternatives": list(st.alternatives),
            "tags": list(st.tags), "language": st.language}
    return cats


def _complete(root: Path) -> bool:
    marker = root / _MARKER
    if not marker.is_file() or marker.read_text().strip() != DEMO_VERSION:
        return False
    return all((root / folder / str(e["filename"])).is_file() and (root / folder / "metadata.json").is_file()
               for folder, entries in _metadata().items() for e in entries.values())


def generate_demo(dir: Path | str, *, force: bool = False) -> None:  # noqa: A002 - the documented parameter name
    """Create the demo library in `dir` (idempotent: a complete library of this version is left alone)."""
    root = Path(dir)
    if not force and _complete(root):
        logger.debug("demo library in {} is up to date", root)
        return
    if not force and not (root / _MARKER).exists() and any(root.rglob("metadata.json")):
        raise FileExistsError(f"{root} already holds a catalog that is not the demo library; "
                              "pick an empty folder or pass force=True (--force) to overwrite the demo files")
    for tool in ("ffmpeg", "espeak-ng"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is needed to generate the demo library; install it (apt install {tool})")
    jobs: list[tuple[object, Path]] = []
    for song in SONGS:
        jobs.append((song, root / "music" / song.collection / song.filename))
    for story in STORIES:
        jobs.append((story, root / "stories" / story.collection / story.filename))
    for _, path in jobs:
        path.parent.mkdir(parents=True, exist_ok=True)

    def run(job: tuple[object, Path]) -> None:
        item, path = job
        if path.is_file() and not force:
            return
        if isinstance(item, Song):
            _render_song(item, path)
        else:
            assert isinstance(item, Story)
            _render_story(item, path)

    # ffmpeg/espeak run as subprocesses, so threads give real parallelism here.
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(run, jobs))
    for folder, entries in _metadata().items():
        (root / folder / "metadata.json").write_text(json.dumps(entries, ensure_ascii=False, indent=2) + "\n",
                                                     encoding="utf-8")
    (root / _MARKER).write_text(DEMO_VERSION + "\n")
    logger.info("demo library ready in {}: {} songs, {} stories", root, len(SONGS), len(STORIES))


def seed_s3(bucket: str, endpoint_url: str, content_dir: Path | str, public: bool = True, *,
            region: str = "us-east-1") -> None:
    """Create `bucket` on `endpoint_url`, optionally make music/ and stories/ publicly readable, and upload."""
    from core.config import S3Config
    from core.content.storage import make_s3_client
    from core.content.upload import ensure_bucket, make_public, sync_dir

    cfg = S3Config(bucket=bucket, endpoint_url=endpoint_url, region=region)
    client = make_s3_client(cfg)
    root = Path(content_dir)
    if not _complete(root):
        generate_demo(root)
    ensure_bucket(client, bucket, region)
    if public:
        make_public(client, bucket, (cfg.prefix_music, cfg.prefix_stories))
    sync_dir(client, bucket, root, {"music": cfg.prefix_music, "stories": cfg.prefix_stories}, progress=False)
