"""MultilingualMatcher: catalog requests in English, Hindi, Telugu and Kannada, native script or romanized.

Ranked levels, best first: exact title, romanized (the `romanized` field, or the title met in the phonetic
romanized space), alternative, fuzzy (rapidfuzz), transliterated (met only across scripts). A fuzzy title must
reach `min_score` and lead a *different* runner-up by `margin`; near-ties are broken by the language hint, and
otherwise reported as a miss. Requests without title words pick from a group (mood tag, shared alias,
collection, language, or everything), avoiding what the device played recently. Nothing here raises on input.
"""
from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from loguru import logger
from rapidfuzz import fuzz, process

from core.config import MatchingConfig
from core.content.titles import dash_head, match_text, series_heads, strip_track_number, title_variants
from core.content.types import Kind, MatchResult, MatchType, Track
from core.lang import registry, vocab
from core.lang.request import Request, RequestReader
from core.lang.text import (
    Analysis,
    Lexicon,
    PhraseSet,
    default_lexicon,
    fold,
    native_language,
    normalize,
    strip_carriers,
)

__all__ = ["MultilingualMatcher", "language_code", "read_request"]

_LEVEL_RANK = {MatchType.EXACT: 0, MatchType.ROMANIZED: 1, MatchType.ALTERNATIVE: 2}
_TOKEN_CUTOFF = 72.0     # a misspelt request word must be this close to a catalog word to be a candidate
_MAX_POSTING = 1500      # words in more keys than this do not nominate candidates alone
_MAX_CANDIDATES = 600
_GROUP_SCORE = 88.0      # fuzzy score at which a request names a shared alias / tag group
_PREFIX_MIN = 90.0       # how close the request must be to a key's first words to count as saying them
_PREFIX_SCORE = 95.0     # what saying a title's first words scores (a whole-title match scores up to 100)
_MAX_GROUP = 200         # uids a group pick carries for continuous play
# Plain text handed to the matcher (tests, tools, a plugin argument that is not the utterance) is read into a
# Request here, in the same form as an utterance; the session's requests arrive already read.
_READER = RequestReader(spell=match_text)


def language_code(value: str | None, _lex: PhraseSet | None = None) -> str | None:
    """'hi', 'Hindi', 'हिंदी', 'hindi ' -> 'hi'; None when the language registry does not have it."""
    if not value or not value.strip():
        return None
    v = normalize(value)
    if registry.find(v) is not None:
        return v
    names = _lex or default_lexicon().languages
    found = names.find([fold(t) for t in v.split()])
    return found[0][2] if found else None


@dataclass(frozen=True, slots=True)
class _Key:
    track: int
    level: MatchType
    native: bool          # written in an Indic script
    script: str = "latin"
    # The key lost a kind noun ("star story" is indexed as "star"): it names the item only as that kind, so a
    # request for the other kind must not take it as a title ("play star" is not the story).
    kind_word: bool = False


@dataclass(frozen=True, slots=True)
class _Cand:
    track: int
    score: float
    key: str              # phonetic key that matched
    level: MatchType


class MultilingualMatcher:
    def __init__(self, tracks: Sequence[Track], cfg: MatchingConfig, *, rng: random.Random | None = None) -> None:
        self.cfg = cfg
        self.tracks: tuple[Track, ...] = tuple(tracks)
        self._rng = rng or random.Random()
        self._lex = default_lexicon()
        self._names = self._lex.languages
        self._by_uid = {t.uid: i for i, t in enumerate(self.tracks)}
        self._lang = [self._track_language(t) for t in self.tracks]
        self._exact: dict[str, list[_Key]] = defaultdict(list)
        self._phon: dict[str, list[_Key]] = defaultdict(list)
        self._groups: dict[str, set[int]] = defaultdict(set)        # shared alias / tag key -> tracks
        self._moods: list[set[str]] = [set() for _ in self.tracks]
        self._build()
        self._index_sets()

    # ------------------------------------------------------------------ index

    def _track_language(self, t: Track) -> str | None:
        return (language_code(t.language, self._names) or language_code(t.collection, self._names)
                or native_language(t.title))

    def _build(self) -> None:
        lex = self._lex
        # The index's own vocabulary: each distinct catalog word and name is folded once per build (a catalog has
        # far more distinct words than fold's process-wide cache, which is sized for requests, keeps).
        word_fold: dict[str, str] = {}
        key_memo: dict[str, tuple[str, str, str | None, bool]] = {}
        mood_memo: dict[tuple[str, bool], frozenset[str]] = {}

        def key_of(text: str) -> tuple[str, str, str | None, bool]:
            hit = key_memo.get(text)
            if hit is None:
                toks = normalize(match_text(text)).split()
                phon = [word_fold[t] if t in word_fold else word_fold.setdefault(t, fold(t)) for t in toks]
                keep = strip_carriers(toks, phon, lex) or [i for i, p in enumerate(phon) if p]
                kept = set(keep)
                nouns = {i for ps in (lex.music_nouns, lex.story_nouns) for s, e, _ in ps.find(phon)
                         for i in range(s, e)}
                hit = key_memo[text] = (" ".join(toks[i] for i in keep), " ".join(phon[i] for i in keep),
                                        native_language(text), bool(nouns - kept))
            return hit

        def moods_of(phon: str, whole: bool) -> frozenset[str]:
            hit = mood_memo.get((phon, whole))
            if hit is None:
                words = phon.split()
                ok = not whole or lex.moods.covers(words)     # an alias is a mood only when it is nothing else
                hit = frozenset(v for _, _, v in lex.moods.find(words)) if ok else frozenset()
                mood_memo[(phon, whole)] = hit
            return hit

        alias_owners: dict[str, set[int]] = defaultdict(set)
        derived_owners: dict[tuple[str, Kind], set[int]] = defaultdict(set)
        pending: list[tuple[str, str, _Key]] = []
        stems = [t.filename.rsplit("/", 1)[-1].rsplit(".", 1)[0] for t in self.tracks]
        folders: dict[tuple[Kind, str], list[str]] = defaultdict(list)
        for t in self.tracks:
            folders[(t.kind, t.collection)].append(t.title)
        series = {k: series_heads(v) for k, v in folders.items()}     # "Frozen - ...", "Jataka Tales - ..."
        for i, t in enumerate(self.tracks):
            names = [(t.title, MatchType.EXACT), (t.romanized, MatchType.ROMANIZED)]
            names += [(a, MatchType.ALTERNATIVE) for a in t.alternatives]
            stem = stems[i]
            # The file name without its track number: "23 - Ten Little Fingers" does not say "twenty three".
            stem_name = strip_track_number(stem)
            names.append((stem_name, MatchType.ALTERNATIVE))
            # Short forms of the title ("Goldilocks" for "Goldilocks (and the 3 Bears)"); never a group name.
            heads = series[(t.kind, t.collection)]
            derived = [v for src in (t.title, stem) for v in title_variants(src, t.collection, heads)]
            names += [(v, MatchType.ALTERNATIVE) for v in derived]
            derived_ids = {id(v) for v in derived}
            seen: set[str] = set()
            for text, level in names:
                if not text or text.isspace():
                    continue
                norm, phon, script, kind_word = key_of(text)
                if not phon or norm in seen:
                    continue      # the romanized form or file name repeating the title adds nothing
                seen.add(norm)
                pending.append((norm, phon, _Key(i, level, script is not None, script or "latin", kind_word)))
                if id(text) in derived_ids:
                    derived_owners[(phon, t.kind)].add(i)
                    continue
                if level is MatchType.ALTERNATIVE and text is not stem_name:
                    alias_owners[phon].add(i)
                    self._moods[i] |= moods_of(phon, True)
            for tag in t.tags:
                _, phon, _, _ = key_of(tag)
                if phon:
                    self._groups[phon].add(i)
                    self._moods[i] |= moods_of(phon, False)
        shared = {k for k, owners in alias_owners.items() if len(owners) > 1}
        for k in shared:
            self._groups[k] |= alias_owners[k]
        # A series several items share ("CoComelon - ...", "Frozen - ...") names them together, like a shared alias.
        for i, t in enumerate(self.tracks):
            head = dash_head(t.title)
            if head in series[(t.kind, t.collection)]:
                phon = key_of(head)[1]
                if phon:
                    self._groups[phon].add(i)
        choice_of: dict[str, int] = {}
        self._choices: list[str] = []
        self._choice_keys: list[list[_Key]] = []
        # A short form two entries of one kind share ("Cinderella" of "Cinderella - Part 1" and "- Part 2") names
        # neither; a song and a story may share one ("Cinderella"): the request's kind tells them apart.
        vague = {k for k, owners in derived_owners.items() if len(owners) > 1}
        for norm, phon, key in pending:
            if key.level is MatchType.ALTERNATIVE and (phon in shared or (phon, self.tracks[key.track].kind) in vague):
                continue       # a shared alias names a group, never one title
            self._exact[norm].append(key)
            self._phon[phon].append(key)
            cid = choice_of.get(phon)
            if cid is None:
                cid = choice_of[phon] = len(self._choices)
                self._choices.append(phon)
                self._choice_keys.append([])
            self._choice_keys[cid].append(key)
        postings: dict[str, list[int]] = defaultdict(list)
        for cid, phon in enumerate(self._choices):
            for tok in set(phon.split()):
                postings[tok].append(cid)
        self._postings = dict(postings)
        self._vocab = list(self._postings)
        by_first: dict[str, list[str]] = defaultdict(list)
        for w in self._vocab:
            by_first[w[0]].append(w)
        self._vocab_by_first = dict(by_first)
        self._group_keys = list(self._groups)
        colls = {(t.kind, t.collection) for t in self.tracks}
        self._collection_names = _collection_phrases(colls, lex)
        self._category_of: dict[str, set[str]] = defaultdict(set)   # canonical category -> "kind/collection"
        for k, c in colls:
            folded = [fold(x) for x in normalize(c).split()]
            for ps in (lex.story_categories, lex.music_categories):
                for _, _, v in ps.find(folded):
                    self._category_of[v].add(f"{k.value}/{c}")

    def _index_sets(self) -> None:
        """Per-kind pools and per-collection / language / mood members, so a request never scans the catalog."""
        n = len(self.tracks)
        self._uids = [t.uid for t in self.tracks]
        self._pools: dict[Kind | None, tuple[int, ...]] = {None: tuple(range(n))}
        for k in Kind:
            self._pools[k] = tuple(i for i, t in enumerate(self.tracks) if t.kind == k)
        self._pool_sets = {k: frozenset(v) for k, v in self._pools.items()}
        self._by_coll: dict[str, set[int]] = defaultdict(set)
        self._by_lang: dict[str | None, set[int]] = defaultdict(set)
        self._by_mood: dict[str, set[int]] = defaultdict(set)
        for i, t in enumerate(self.tracks):
            self._by_coll[f"{t.kind.value}/{t.collection}"].add(i)
            self._by_lang[self._lang[i]].add(i)
            for m in self._moods[i] | set(t.tags):
                self._by_mood[m].add(i)

    def track(self, uid: str) -> Track | None:
        i = self._by_uid.get(uid)
        return self.tracks[i] if i is not None else None

    def language_of(self, track: Track) -> str | None:
        i = self._by_uid.get(track.uid)
        return self._lang[i] if i is not None else self._track_language(track)

    # ------------------------------------------------------------------ public API

    def find_content_match(self, request: Request | str, language_hint: str | None = None, *,
                           kind: Kind | None = None, avoid: Collection[str] = ()) -> MatchResult:
        """What `request` asks for; a Request is matched on its one analysis, plain text is read into one first."""
        try:
            return self._match(read_request(request).analysis, language_hint, kind, avoid)
        except Exception:    # noqa: BLE001 - the matcher must never take a session down; log and report a miss
            logger.exception("matcher failed on a request of {} chars",
                             len(request.text) if isinstance(request, Request) else len(request or ""))
            return MatchResult(None, MatchType.NONE, notes=("error",))

    def find_alternative(self, request: Request | str, language_hint: str | None = None, *,
                         kind: Kind | None = None, avoid: Collection[str] = ()) -> MatchResult:
        """A clearly labelled stand-in after a miss: an item in the request's language, else any item."""
        a = read_request(request).analysis
        lang = language_code(language_hint, self._names) or a.language or a.utterance_language
        pool = self._pool(kind)
        same = [i for i in pool if self._lang[i] == lang]
        chosen = self._pick(same or pool, avoid)
        if chosen is None:
            return MatchResult(None, MatchType.NONE, fallback=True, notes=("empty",))
        mt = MatchType.COLLECTION if same else MatchType.RANDOM
        return MatchResult(self.tracks[chosen], mt, fallback=True, notes=(f"language={lang}" if same else "any",))

    def pick(self, *, kind: Kind | None = None, collection: str | None = None, avoid: Collection[str] = ()
             ) -> Track | None:
        """A random item of a kind / collection, avoiding `avoid` while anything else is left."""
        members: Sequence[int] = self._pool(kind)
        if collection is not None:
            members = [i for i in members if self.tracks[i].collection == collection]
        chosen = self._pick(members, avoid)
        return self.tracks[chosen] if chosen is not None else None

    # ------------------------------------------------------------------ matching

    def _pool(self, kind: Kind | None) -> tuple[int, ...]:
        return self._pools.get(kind, ())

    def _match(self, a: Analysis, hint_in: str | None, kind: Kind | None, avoid: Collection[str]) -> MatchResult:
        hint = language_code(hint_in, self._names) or a.language
        soft_hint = hint or (a.utterance_language if a.utterance_language != "en" else None)
        pool = self._pool(kind)
        allowed = self._pool_sets.get(kind, frozenset())
        queries = []
        for idx in (a.core, a.residual):
            q = (a.words(idx), a.phon_of(idx), native_language(a.words(idx)) or "latin")
            if q[1] and q not in queries:
                queries.append(q)
        mood_only = a.slot_only and bool(a.moods) and not (a.story_categories or a.music_categories)
        if a.slot_only:
            queries = queries[:1]          # only a whole-title equality may beat the group the slots name
        best = miss = None
        scopes: list[set[int]] = [set(allowed)]
        if hint:     # a named language first looks among its own items ("chandamama in kannada")
            own = {i for i in allowed if self._lang[i] == hint}
            if own and own != allowed:
                scopes.insert(0, own)
        coll_spans = [(s, e, v) for s, e, vs in self._collection_names.find(a.phon) for v in vs.split("|")
                      if kind is None or v.startswith(f"{kind.value}/")]
        coll_idx = {i for s, e, _ in coll_spans for i in range(s, e)}
        rest = [i for i in a.residual if i not in coll_idx]
        # "tell me a moral story" names the collection: only a whole-title equality may beat it.
        coll_only = bool(coll_spans) and not rest
        if coll_only:
            queries = queries[:1]
        # A request that only names a group ("some action songs", "telugu rhymes") is beaten by a whole title
        # only, never by a short form ("Action Song" of "Head Shoulders ... (Action Song)").
        alias_ok = not (mood_only or coll_only or (a.slot_only and a.language))
        for scope in scopes:
            for q in queries:
                best = self._equal(q, scope, soft_hint, alias_ok=alias_ok)
                if best:
                    break
            if best is None and not a.slot_only and not coll_only:
                # A request that is the name of a series or shared alias ("the lion king", "cocomelon") asks for
                # its items together; a fuzzy score must not pick one of them.
                titled = [q for q in queries if len(self._groups.get(q[1], set()) & scope) < 2]
                found = [r for r in (self._fuzzy(q, scope, soft_hint, whole=q[1] == a.phon_of(a.core))
                                     for q in titled) if r is not None]
                hits = [r for r in found if r.track is not None]
                if hits:
                    best = max(hits, key=lambda r: r.score)
                elif found and miss is None:
                    miss = max(found, key=lambda r: r.score)
            if best is not None:
                break
        if best is not None:
            return best
        group = self._group_for(a.phon_of(rest)) if rest else None
        if group is None and a.phon_of(a.core) in self._groups:
            group = a.phon_of(a.core)     # "counting song": a shared alias beats the mood word inside it
        if rest and group is not None:
            owners = self._groups[group] & allowed
            if len(owners) == 1 and group == a.phon_of(rest):
                # "tell me cinderella": a song and a story share the name, and one of them is a story
                i = next(iter(owners))
                return MatchResult(self.tracks[i], MatchType.ALTERNATIVE, score=100.0,
                                   requested=_display(a.words(rest)))
            if not owners:             # "the story of aladdin" names songs only: not a story we have
                group = None
        if rest and group is None:
            return MatchResult(None, MatchType.NONE, score=miss.score if miss else 0.0,
                               requested=_display(a.words(rest)), runner_up=miss.runner_up if miss else None,
                               notes=miss.notes if miss else ())
        return self._group_pick(a, kind, pool, hint, group, [v for _, _, v in coll_spans], avoid)

    def _equal(self, q: tuple[str, str, str], allowed: set[int], hint: str | None, *, alias_ok: bool
               ) -> MatchResult | None:
        norm, phon, q_script = q
        for table, key_text, phonetic in ((self._exact, norm, False), (self._phon, phon, True)):
            keys = [k for k in table.get(key_text, ()) if k.track in allowed
                    and (alias_ok or k.level is not MatchType.ALTERNATIVE)]
            if not keys:
                continue
            top = min(_LEVEL_RANK[k.level] for k in keys)
            keys = [k for k in keys if _LEVEL_RANK[k.level] == top]
            k = self._prefer(keys, hint)
            level = k.level
            if phonetic:
                level = (MatchType.TRANSLITERATED if q_script != k.script
                         else MatchType.ALTERNATIVE if level is MatchType.ALTERNATIVE else MatchType.ROMANIZED)
            return MatchResult(self.tracks[k.track], level, score=100.0, requested=_display(norm),
                               notes=("kind_word",) if k.kind_word else ())
        return None

    def _prefer(self, keys: list[_Key], hint: str | None) -> _Key:
        """Same title in several collections: the hinted language first, then catalog order."""
        return min(keys, key=lambda k: (self._lang[k.track] != hint if hint else 0, k.track))

    def _candidates(self, phon: str, *, expand: bool) -> list[int]:
        """Keys sharing a word with the request; with `expand`, also keys with a word close to a request word."""
        counts: Counter[int] = Counter()
        toks = [t for t in dict.fromkeys(phon.split()) if len(t) > 1] or phon.split()
        hits = [t for t in toks if t in self._postings]
        if expand:       # shorter words are too short to correct safely; the longest carry the most evidence
            fix = sorted((t for t in toks if t not in self._postings and len(t) > 3), key=len, reverse=True)[:3]
            for t in fix:
                # Words are corrected within their first letter's bucket: the phonetic fold already merged the
                # usual first-letter variants (ch/c, sh/s, w/v, ph/f, z/j), and a bucket is ~1/20 of the vocabulary.
                bucket = self._vocab_by_first.get(t[0], ())
                hits += [w for w, _, _ in process.extract(t, bucket, scorer=fuzz.ratio, score_cutoff=_TOKEN_CUTOFF,
                                                          limit=12)]
        for m in hits:
            post = self._postings[m]
            if len(post) <= _MAX_POSTING or len(toks) == 1:
                counts.update(post)
        return [cid for cid, _ in counts.most_common(_MAX_CANDIDATES)]

    def _fuzzy(self, q: tuple[str, str, str], allowed: set[int], hint: str | None, *, whole: bool = True
               ) -> MatchResult | None:
        norm, phon, q_script = q
        floor = self.cfg.min_score - self.cfg.margin - 10
        scored: list[tuple[str, float, int]] = []
        cids: list[int] = []
        for expand in (False, True):     # exact request words first; correct misspelt words only if needed
            cids = self._candidates(phon, expand=expand)
            found = process.extract(phon, [self._choices[c] for c in cids], scorer=fuzz.WRatio, score_cutoff=floor,
                                    limit=12) if cids else []
            scored = [(ch, self._score(phon, ch, sc, whole), pos) for ch, sc, pos in found]
            if any(sc >= self.cfg.min_score for _, sc, _ in scored):
                break
        if not cids:
            return MatchResult(None, MatchType.NONE, requested=_display(norm))
        per_track: dict[int, _Cand] = {}
        for choice, score, pos in scored:
            for k in self._choice_keys[cids[pos]]:
                if k.track not in allowed:
                    continue
                cur = per_track.get(k.track)
                level = MatchType.TRANSLITERATED if q_script != k.script else MatchType.FUZZY
                if cur is None or score > cur.score:
                    per_track[k.track] = _Cand(k.track, score, choice, level)
        ranked = sorted(per_track.values(), key=lambda c: (-c.score, c.track))
        if not ranked or ranked[0].score < self.cfg.min_score:
            top = ranked[0] if ranked else None
            return MatchResult(None, MatchType.NONE, score=top.score if top else 0.0, requested=_display(norm),
                               runner_up=self.tracks[top.track] if top else None, notes=("below_threshold",))
        best = ranked[0]
        same = [c for c in ranked if c.key == best.key]
        rivals = [c for c in ranked if c.key != best.key and best.score - c.score < self.cfg.margin]
        if rivals:
            hinted = [c for c in same + rivals if hint and self._lang[c.track] == hint]
            if not hinted or len({c.key for c in hinted}) > 1:
                return MatchResult(None, MatchType.NONE, score=best.score, requested=_display(norm),
                                   runner_up=self.tracks[rivals[0].track], notes=("ambiguous",))
            same = [c for c in hinted if c.key == hinted[0].key]
        chosen = self._prefer([_Key(c.track, c.level, False) for c in same], hint)
        cand = next(c for c in same if c.track == chosen.track)
        runner = next((c for c in ranked if c.key != cand.key), None)
        return MatchResult(self.tracks[cand.track], cand.level, score=round(cand.score, 1), requested=_display(norm),
                           runner_up=self.tracks[runner.track] if runner else None)

    def _score(self, q: str, key: str, wratio: float, whole: bool) -> float:
        """A candidate key's score: WRatio held to coverage, or the key's opening words said alone ("lakdi ki
        kathi" of a twelve-word title), and never a key whose numbers differ ("part four" is not "part three")."""
        if not _numbers_agree(q, key):
            return 0.0
        return max(min(_adjust(q, key, wratio), _two_way_cover(q, key)), self._prefix(q, key, whole))

    def _prefix(self, q: str, key: str, whole: bool) -> float:
        """People say the first words of a long title. Two or more words (close to the key's first words), or
        one long word that is the whole request and that no other item's keys contain ("goldilocks", "eklavya";
        not the 'hanuman' left of "hanuman aarti"); two keys opening alike tie, and the margin rule then reports
        the request as ambiguous."""
        qw, kw = q.split(), key.split()
        n = len(qw)
        if not n or len(kw) <= n or len(q) < 5 or q in self._groups:
            return 0.0        # a series or shared alias opening several titles ("cocomelon", "akbar and birbal")
        r = fuzz.ratio(q, " ".join(kw[:n]))
        if r < _PREFIX_MIN:
            return 0.0
        if n == 1:
            if not whole:
                return 0.0
            # Unique in the whole catalog, not just the kind asked for: "chandamama" that opens two songs does not
            # become the one story that also opens with it.
            owners = {k.track for c in self._postings.get(q, ()) for k in self._choice_keys[c]}
            if len(owners) != 1:
                return 0.0
        return _PREFIX_SCORE - (100.0 - r) / 2

    def _group_for(self, phon: str) -> str | None:
        """A shared alias or tag named by the request words ("nursery rhyme" -> the 'nursery' group)."""
        if phon in self._groups:
            return phon
        words = set(phon.split())
        subset = [g for g in self._group_keys if words <= set(g.split())]
        if subset:
            return min(subset, key=len)
        hit = process.extractOne(phon, self._group_keys, scorer=fuzz.ratio, score_cutoff=_GROUP_SCORE)
        return hit[0] if hit else None

    # ------------------------------------------------------------------ groups

    def _union(self, table: dict[str, set[int]], names: Collection[str]) -> set[int]:
        out: set[int] = set()
        for n in names:
            out |= table.get(n, set())
        return out

    def _group_pick(self, a: Analysis, kind: Kind | None, pool: Sequence[int], hint: str | None, group: str | None,
                    colls: list[str], avoid: Collection[str]) -> MatchResult:
        if kind is None:
            story = a.kind_cue == "story" or (a.story_categories and a.kind_cue != "music")
            kind = Kind.STORY if story else Kind.MUSIC if (a.kind_cue == "music" or a.moods or a.language) else None
            pool = self._pool(kind) or pool
        pool_set = self._pool_sets[kind] if pool is self._pools.get(kind) else frozenset(pool)
        filters: list[tuple[str, set[int]]] = []
        if group is not None and self._groups[group] & pool_set:
            filters.append(("alias", self._groups[group]))
        cats = a.story_categories + a.music_categories if kind is None else \
            a.story_categories if kind is Kind.STORY else a.music_categories
        named = set(colls) | {c for cat in cats for c in self._category_of.get(cat, ())}
        if named:
            filters.append(("collection", self._union(self._by_coll, named)))
        elif cats and kind is Kind.STORY:
            filters.append(("tag", self._union(self._by_mood, cats)))
        if a.moods and not (kind is Kind.STORY and named):
            members = self._union(self._by_mood, a.moods) & pool_set
            if not members:
                members = self._union(self._by_mood, {r for m in a.moods for r in vocab.MOOD_RELATED.get(m, ())})
            filters.append(("tag", members))
        if hint:
            filters.append(("language", self._by_lang.get(hint, set())))
        # Relax the least important filter first when nothing satisfies them all.
        order = (["language", "tag", "alias", "collection"] if kind is Kind.STORY
                 else ["tag", "alias", "collection", "language"])
        notes: list[str] = []
        while filters:
            members = set(pool_set)
            for _, f in filters:
                members &= f
            if members:
                break
            drop = next((n for n in order if any(f[0] == n for f in filters)), filters[0][0])
            notes.append(f"relaxed:{drop}")
            filters = [f for f in filters if f[0] != drop]
        members_list = sorted(members) if filters else list(pool)
        chosen = self._pick(members_list, avoid)
        if chosen is None:
            return MatchResult(None, MatchType.NONE, notes=("empty",))
        names = {n for n, _ in filters}
        mt = (MatchType.TAG if names & {"tag", "alias"} else MatchType.COLLECTION if names & {"collection", "language"}
              else MatchType.RANDOM)
        if len(members_list) > _MAX_GROUP:      # "play music" over a huge catalog: a fair sample is queue enough
            members_list = self._rng.sample(members_list, _MAX_GROUP)
        return MatchResult(self.tracks[chosen], mt, notes=tuple(notes + sorted(names)),
                           group=tuple(self._uids[i] for i in members_list))

    def _pick(self, members: Sequence[int], avoid: Collection[str]) -> int | None:
        if not members:
            return None
        avoid = avoid if isinstance(avoid, (set, frozenset, dict)) else tuple(avoid)
        for _ in range(8):       # the recent list is short: a few random draws almost always find a fresh item
            i = self._rng.choice(members)
            if self._uids[i] not in avoid:
                return i
        fresh = [i for i in members if self._uids[i] not in avoid]
        if fresh:
            return self._rng.choice(fresh)
        # Everything was played recently: the one played longest ago.
        recent = list(avoid)
        return min(members, key=lambda i: recent.index(self._uids[i]) if self._uids[i] in recent else -1)


_COLLECTION_NOUNS = {"stories": "story", "story": "", "songs": "song", "song": "", "rhymes": "rhyme", "rhyme": "",
                     "tales": "tale", "tale": "", "poems": "poem", "poem": "", "lullabies": "lullaby", "lullaby": ""}
_GENERIC_NOUNS = frozenset({"stories", "story", "songs", "song"})     # "play songs" names no one collection


def _collection_phrases(colls: Collection[tuple[Kind, str]], lex: Lexicon) -> PhraseSet:
    """Collection names as people say them: 'Moral Stories' is also 'moral story' and 'moral'; 'Nursery Rhymes'
    is also 'rhymes' (a specific noun, and 'nursery' is not a language). A phrase may name several collections."""
    names: dict[tuple[str, ...], set[str]] = defaultdict(set)
    by_language: dict[str, set[str]] = defaultdict(set)    # "rhymes" -> "music/Hindi Rhymes", "music/Telugu Rhymes"
    for k, c in colls:
        value = f"{k.value}/{c}"
        words = normalize(c).split()
        forms = [words]
        if words and words[-1] in _COLLECTION_NOUNS:
            noun = words[-1]
            single = _COLLECTION_NOUNS[noun] or noun
            forms.append(words[:-1] + [single])
            if len(words) > 1:
                forms.append(words[:-1])
                qualifier = [fold(w) for w in words[:-1]]
                if noun not in _GENERIC_NOUNS and not lex.languages.covers(qualifier):
                    forms += [[noun], [single]]
                elif noun not in _GENERIC_NOUNS:
                    by_language[noun].add(value)
        if len(words) == 2 and "and" not in words:
            forms.append([words[0], "and", words[1]])      # "Akbar Birbal" is said "akbar and birbal"
        for f in forms:
            seq = tuple(p for p in (fold(w) for w in f) if p)
            if seq:
                names[seq].add(value)
    # "a few rhymes" when every rhyme folder is named by its language ("Hindi Rhymes", "Kannada Rhymes"): all of them.
    for noun, values in by_language.items():
        single = _COLLECTION_NOUNS[noun] or noun
        for seq in {(fold(noun),), (fold(single),)}:
            if seq[0] and seq not in names:
                names[seq] |= values
    return PhraseSet.of_sequences((seq, "|".join(sorted(vs))) for seq, vs in names.items())


def read_request(request: Request | str) -> Request:
    """`request` as a Request: plain text (or anything else) is read the way an utterance is."""
    return request if isinstance(request, Request) else _READER.read(request if isinstance(request, str) else "")


def _adjust(q: str, key: str, score: float) -> float:
    """WRatio rewards a short request inside a long title; demand coverage before trusting a partial alignment."""
    cov = len(q) / max(1, len(key))
    if cov < 0.35 or (" " not in q and " " in key) or cov > 3.0:
        return min(score, fuzz.ratio(q, key))
    return score


def _cover(q: str, key: str) -> float:
    """How well every request word is found in the key (length-weighted best word ratio): one shared word among
    unknown ones ("happy birthday" vs "If You're Happy...") stays far below the threshold."""
    kt = key.split()
    kt += [a + b for a, b in zip(kt, kt[1:], strict=False)]          # "baba" meets "ba ba"
    total = acc = 0.0
    for t in q.split():
        acc += len(t) * max(fuzz.ratio(t, k) for k in kt)
        total += len(t)
    return acc / total if total else 0.0


def _two_way_cover(q: str, key: str) -> float:
    """Request words found in the key; for a much longer request ("baa baa black sheep for my little brother"),
    a key of several distinct words found whole in it also counts."""
    c = _cover(q, key)
    compact = fuzz.ratio(q.replace(" ", ""), key.replace(" ", ""))
    if compact >= 92:           # the same letters split differently: "bean stalk" / "beanstalk"
        c = max(c, compact)
    if len(q) >= 1.5 * len(key) and len(set(key.split())) >= 2:
        c = max(c, _cover(key, q))
    return c


_NUMBERS = frozenset(fold(w) for w in """zero two three four five six seven eight nine ten eleven twelve thirteen
fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety
hundred""".split())


def _numbers_agree(q: str, key: str) -> bool:
    """Every number the request says is in the key: "ramayana part four" is not "Part 3", "table of seven" is not
    "Table of 2" ('one' is a carrier word, so it is never counted)."""
    nums = [w for w in q.split() if w in _NUMBERS]
    if not nums:
        return True
    kw = set(key.split())
    return all(n in kw for n in nums)


def _display(words: str) -> str:
    return " ".join(w.capitalize() if w.isascii() else w for w in words.split())
