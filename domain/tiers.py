"""What each tier should hold (DESIGN §1), with probabilities, sizes and budgets.

L1 hot: chunks c and c+1 of the current preset, and of up to two predicted presets whose
probability is above 0.15; the chunk the player asked for; chunk 0 of the queued next track while
the last two chunks play (or always, when most track changes are skips).
L2 warm, the branch scenarios: continue (c+2..c+4, p 0.6); switch to each of the top-3
predicted presets (c..c+2, p = base·0.3/rank — the switch happens inside chunk c, so c is needed
at once and c+1, c+2 are weighted down) and to chunk c of the fourth; chunk c of every other
preset gets at least p 0.06; seek forward (c+10..c+11, p 0.05, once 120 s are played); skip to
the queued next track (chunk 0, p = learned share of skips).
L3 cold: read-ahead c+2..c+9 of the current preset.
A chunk wanted by several tiers belongs to the hottest that has room for it. Inside a tier the most
probable chunks are kept until the budget is spent: real bytes for a rendered chunk, an estimate
before.
"""

from __future__ import annotations

from typing import Final, cast

from domain.affinity import preset_affinity
from domain.content import Features as AudioFeatures
from domain.events import PRESETS, ChunkKey, Preset
from domain.predictor import blend, probabilities, ranked
from domain.state import Budgets, Playback, State, TierName, Track, Want

CHUNK_MS: Final[int] = 30_000
BYTES_PER_SAMPLE: Final[int] = 2  # chunks are stored as 16-bit FLAC
FLAC_RATIO_PERCENT: Final[int] = 60  # FLAC keeps about 60 % of the PCM bytes
TIMEOUT_MS: Final[dict[str, int]] = {"waiting": 20_000, "L1": 30_000, "L2": 60_000, "L3": 90_000}
L1_MIN_PROBABILITY: Final[float] = 0.15
L1_PRESETS: Final[int] = 2
L2_PRESETS: Final[int] = 3
CONTINUE_PROBABILITY: Final[float] = 0.6
SWITCH_SHARE: Final[float] = 0.3
#: Weight of c, c+1, c+2 of a switch scenario: a switch happens inside chunk c, so c is needed at
#: once and c+1 only 30 s later, when there is time to render it.
SWITCH_OFFSETS: Final[tuple[float, ...]] = (1.0, 0.5, 0.25)
SEEK_PROBABILITY: Final[float] = 0.05
#: Floor for chunk c of every other preset, learned or not: a switch needs it at once, and a
#: listener trying presets out goes to ones the counts have never seen.
COVER_PROBABILITY: Final[float] = 0.06
#: ... and chunk c+1, so the cover is already there when the playhead crosses into it.
COVER_NEXT_PROBABILITY: Final[float] = 0.055
SEEK_AFTER_MS: Final[int] = 120_000
SKIP_PROBABILITY: Final[float] = 0.3  # prior share of track changes that are skips
L1_SKIP: Final[float] = 0.5
READ_AHEAD: Final[tuple[float, ...]] = tuple(0.5 * 0.9**i for i in range(8))  # c+2..c+9
TIERS: Final[tuple[TierName, ...]] = ("L1", "L2", "L3")

Candidate = tuple[TierName, ChunkKey, float]


def chunk_id(key: ChunkKey) -> str:
    """The string a chunk is filed under in the state's mappings (unique: the track comes first
    and the four fields after it never contain '|')."""
    return f"{key.track}|{key.revision}|{key.preset}|{key.intensity_tenths}|{key.index}"


_PRESET: Final[dict[str, Preset]] = {name: cast(Preset, name) for name in PRESETS}


def chunk_count(duration_ms: int) -> int:
    return (duration_ms + CHUNK_MS - 1) // CHUNK_MS


def estimate_chunk_bytes(track: Track, index: int) -> int:
    """Size of a chunk not yet rendered: 16-bit PCM of its length, times the FLAC ratio."""
    length_ms = min(CHUNK_MS, max(0, track.duration_ms - index * CHUNK_MS))
    pcm = track.sample_rate * track.channels * BYTES_PER_SAMPLE * length_ms // 1_000
    return pcm * FLAC_RATIO_PERCENT // 100


def is_current(state: State, key: ChunkKey) -> bool:
    """The key names an existing chunk of the current revision of a known track."""
    track = state.tracks.get(key.track)
    return (
        track is not None
        and key.revision == track.revision
        and key.index < chunk_count(track.duration_ms)
    )


def playhead_key(state: State, now: int) -> ChunkKey | None:
    playback = state.playback
    if playback.track is None:
        return None
    track = state.tracks.get(playback.track)
    if track is None:
        return None
    count = chunk_count(track.duration_ms)
    if count == 0:
        return None
    index = min(playback.position_at(now, track.duration_ms) // CHUNK_MS, count - 1)
    return ChunkKey(
        playback.track, track.revision, _PRESET[playback.preset], playback.intensity_tenths, index
    )


def now_playing(state: State, now: int) -> ChunkKey | None:
    """The chunk the player asked for, if it belongs to what plays; otherwise the playhead's."""
    requested = state.cache.requested
    if (
        requested is not None
        and requested.track == state.playback.track
        and is_current(state, requested)
    ):
        return requested
    return playhead_key(state, now)


def budgets_in_force(state: State, playing: ChunkKey | None) -> Budgets:
    """Configured budgets shrunk by memory pressure; emergency keeps only the chunk playing."""
    configured = state.cache.configured
    level = state.cache.pressure
    if level == "warning":
        return Budgets(configured.l1 * 2 // 3, configured.l2 // 2, 0)
    if level == "critical":
        return Budgets(configured.l1 // 2, 0, 0)
    if level == "emergency":
        return Budgets(0 if playing is None else size_of(state, playing), 0, 0)
    return configured


def size_of(state: State, key: ChunkKey) -> int:
    held = state.cache.held.get(chunk_id(key))
    if held is not None:
        return held.bytes
    track = state.tracks.get(key.track)
    return 0 if track is None else estimate_chunk_bytes(track, key.index)


def predicted(state: State, basis: ChunkKey, now: int) -> dict[str, float]:
    """Next-preset probabilities: habit, blended 0.7/0.3 with the chunk's content if analysed."""
    habit = probabilities(state.predictor, basis.preset, now)
    features = state.analysis.get(basis.track, {}).get(str(basis.index))
    if features is None:
        return habit
    audio = AudioFeatures(
        features.energy, features.brightness, features.dynamics, features.vocals, features.rhythm
    )
    return blend(habit, preset_affinity(audio), basis.preset)


def candidates(state: State, basis: ChunkKey, playback: Playback, now: int) -> list[Candidate]:
    """Every chunk some tier would like, hottest tier first, in generation order."""
    track = state.tracks[basis.track]
    count = chunk_count(track.duration_ms)
    out: list[Candidate] = []

    def add(tier: TierName, preset: str, index: int, probability: float) -> None:
        if 0 <= index < count:
            key = ChunkKey(
                basis.track, basis.revision, _PRESET[preset], basis.intensity_tenths, index
            )
            out.append((tier, key, probability))

    c, p = basis.index, basis.preset
    ranks = ranked(predicted(state, basis, now), len(PRESETS) - 1)
    add("L1", p, c, 1.0)
    add("L1", p, c + 1, 0.95)
    for preset, prob in ranks[:L1_PRESETS]:
        if prob > L1_MIN_PROBABILITY:
            add("L1", preset, c, prob)
            add("L1", preset, c + 1, prob * 0.9)
    requested = state.cache.requested
    if requested is not None and is_current(state, requested):
        out.append(("L1", requested, 1.0))
    following = _next_track(state, basis, count)
    if following is not None and c >= count - 2:
        out.append(("L1", following, 0.9))
    for i in range(2, 5):
        add("L2", p, c + i, CONTINUE_PROBABILITY)
    for rank, (preset, prob) in enumerate(ranks, start=1):
        for i, share in enumerate(SWITCH_OFFSETS if rank <= L2_PRESETS else SWITCH_OFFSETS[:1]):
            add("L2", preset, c + i, prob * SWITCH_SHARE * share / rank)
    for preset in PRESETS:
        if preset != p:
            add("L2", preset, c, COVER_PROBABILITY)
            add("L2", preset, c + 1, COVER_NEXT_PROBABILITY)
    if playback.position_at(now, track.duration_ms) >= SEEK_AFTER_MS:
        add("L2", p, c + 10, SEEK_PROBABILITY)
        add("L2", p, c + 11, SEEK_PROBABILITY)
    if following is not None:
        skip = skip_probability(state)
        out.append(("L1" if skip > L1_SKIP else "L2", following, skip))
    for i, prob in enumerate(READ_AHEAD, start=2):
        add("L3", p, c + i, prob)
    return out


def skip_probability(state: State) -> float:
    """Share of track changes that left a track before its end, smoothed towards the prior."""
    learned = state.predictor
    return (learned.skips + 3 * SKIP_PROBABILITY) / (learned.track_changes + 3)


def _next_track(state: State, basis: ChunkKey, count: int) -> ChunkKey | None:
    name = state.cache.next_track
    track = state.tracks.get(name) if name is not None else None
    if name is None or track is None or name == basis.track or track.duration_ms <= 0:
        return None
    return ChunkKey(name, track.revision, basis.preset, basis.intensity_tenths, 0)


def fit(
    state: State, wishes: list[Candidate], budgets: Budgets, excluded: tuple[str, ...]
) -> list[tuple[str, Want]]:
    """Per tier, the most probable wishes that fit its budget; hottest tier first."""
    limits = {"L1": budgets.l1, "L2": budgets.l2, "L3": budgets.l3}
    taken: set[str] = set(excluded)
    by_tier: dict[str, list[tuple[float, int, ChunkKey]]] = {t: [] for t in TIERS}
    for order, (tier, key, probability) in enumerate(wishes):
        by_tier[tier].append((-probability, order, key))
    held = state.cache.held
    wants: list[tuple[str, Want]] = []
    for tier in TIERS:
        room = limits[tier]
        for negative, _, key in sorted(by_tier[tier]):
            ident = chunk_id(key)
            if ident in taken:
                continue
            entry = held.get(ident)
            if entry is not None:
                size = entry.bytes
            else:
                track = state.tracks.get(key.track)
                size = 0 if track is None else estimate_chunk_bytes(track, key.index)
            if size <= room:
                room -= size
                taken.add(ident)
                wants.append((ident, Want(key, tier, -negative, size)))
    return wants
