"""What each tier should hold (DESIGN §1), with probabilities, sizes and budgets.

Probabilities are honest: they come from how this listener listens (`domain.habits`: the chance,
per chunk, of a preset switch, a seek, a skip) and from the branch predictor.

L1 hot: chunk c of the current preset (1), c+1 (the chance of playing on, `stay`); chunk c of
up to two predicted presets (switch chance × the predictor's probability, when above 0.15); the
chunk the player asked for; chunk 0 of the queued next track while the last chunk plays.
L2 warm, the branch scenarios: continue (c+2..c+4, stay^k); switch to each predicted preset (c,
and c+1 weighted by stay); while the listener is trying presets out, chunk c of every preset;
seek (for a listener who seeks: every other chunk of the track, the chance that one of the
seeks expected in the rest of the track lands on it, when at least `SEEK_RENDER`); skip to the
queued next track (chunk 0, the skip chance).
L3 cold: read-ahead c+2..c+9 of the current preset (stay^k).
A chunk wanted by several tiers belongs to the hottest that has room for it. Inside a tier the most
probable chunks are kept until the budget is spent: real bytes for a rendered chunk, an estimate
before. What is *rendered* ahead is a subset (`worth_rendering`, `SEEK_RENDER`): the further
ahead a chunk is needed, the likelier it must be, since there is time to render it once it comes
near; a chunk needed at once (a switch, a skip, a seek away) only needs to be likely enough.
"""

from __future__ import annotations

from typing import Final, cast

from domain.affinity import preset_affinity
from domain.content import Features as AudioFeatures
from domain.events import PRESETS, ChunkKey, Preset
from domain.habits import habits
from domain.predictor import blend, probabilities, ranked
from domain.state import Budgets, Playback, State, TierName, Track, Want

CHUNK_MS: Final[int] = 30_000
BYTES_PER_SAMPLE: Final[int] = 2  # chunks are stored as 16-bit FLAC
FLAC_RATIO_PERCENT: Final[int] = 60  # FLAC keeps about 60 % of the PCM bytes
TIMEOUT_MS: Final[dict[str, int]] = {"waiting": 20_000, "L1": 30_000, "L2": 60_000, "L3": 90_000}
L1_MIN_PROBABILITY: Final[float] = 0.15
#: Two thirds into a chunk, the plan is made again: a listener still there is likely to stay.
CHECKPOINT_MS: Final[int] = 22_000
#: Above this skip chance, chunk 0 of the queued next track is hot (L1).
L1_SKIP: Final[float] = 0.5
#: The least probability worth rendering a chunk for, by how many chunks ahead it is needed (the
#: last for anything further): needed now, a switch or skip away; needed when this chunk ends;
#: later — there is time to render it when it comes near, so only a near-certain chunk is.
RENDER_AHEAD: Final[tuple[float, ...]] = (0.07, 0.7, 0.75)
#: A chunk a seek may land on is needed at once, but a seek is spread over the whole track: it
#: is rendered ahead only when this likely to be landed on while the track plays, which renders
#: a seeker's track (a seek a chunk or so) and nothing for a listener who seeked once.
SEEK_RENDER: Final[float] = 0.25
TIERS: Final[tuple[TierName, ...]] = ("L1", "L2", "L3")

#: A tier's wish: the chunk, the probability it is needed, and whether to render it ahead.
Candidate = tuple[TierName, ChunkKey, float, bool]


def chunk_id(key: ChunkKey) -> str:
    """The string a chunk is filed under in the state's mappings (unique: the track comes first
    and the four fields after it never contain '|')."""
    return f"{key.track}|{key.revision}|{key.preset}|{key.intensity_tenths}|{key.index}"


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


def _playhead_index(state: State, now: int) -> int:
    """Index of the chunk under the playhead at `now`; -1 when nothing known plays."""
    playback = state.playback
    if playback.track is None:
        return -1
    return playhead_index_of(playback, state.tracks.get(playback.track), now)


def playhead_index_of(playback: Playback, track: Track | None, now: int) -> int:
    """`_playhead_index` given the playing track, already looked up (None: not known)."""
    if track is None:
        return -1
    count = chunk_count(track.duration_ms)
    if count == 0:
        return -1
    return min(playback.position_at(now, track.duration_ms) // CHUNK_MS, count - 1)


def current_key(state: State, index: int) -> ChunkKey | None:
    """The key of chunk `index` of the playing track at the current preset and intensity."""
    playback = state.playback
    track = state.tracks.get(playback.track) if playback.track is not None else None
    if track is None or not 0 <= index < chunk_count(track.duration_ms):
        return None
    return ChunkKey(
        track=playback.track or "",
        revision=track.revision,
        preset=playback.preset,
        intensity_tenths=playback.intensity_tenths,
        index=index,
    )


def playhead_key(state: State, now: int) -> ChunkKey | None:
    index = _playhead_index(state, now)
    if index < 0:
        return None
    playback = state.playback
    name = cast(str, playback.track)  # not None: the index says something plays
    return ChunkKey(
        name,
        state.tracks[name].revision,
        playback.preset,
        playback.intensity_tenths,
        index,
    )


def at_playhead_of(playback: Playback, track: Track | None, now: int, key: ChunkKey | None) -> bool:
    """`playhead_key(...) == key` without building a key, given the playing track, already
    looked up (None: nothing known plays): the fold asks this for every position report, and
    the answer is nearly always yes."""
    index = -1 if playback.track is None else playhead_index_of(playback, track, now)
    if index < 0 or key is None:
        return index < 0 and key is None
    return (
        key.index == index
        and key.track == playback.track
        and track is not None
        and key.revision == track.revision
        and key.preset == playback.preset
        and key.intensity_tenths == playback.intensity_tenths
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


def predicted(state: State, basis: ChunkKey, now: int) -> dict[Preset, float]:
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
    listened = playback.listened_at(now, track.duration_ms)
    listener = habits(state.predictor, state.policy, now, listened)
    stay = listener.stay
    out: list[Candidate] = []

    def add(
        tier: TierName, preset: Preset, index: int, probability: float, *, seek: bool = False
    ) -> None:
        if 0 <= index < count:
            key = ChunkKey(basis.track, basis.revision, preset, basis.intensity_tenths, index)
            ahead = 0 if seek else max(0, index - basis.index)
            out.append((tier, key, probability, seek or worth_rendering(probability, ahead)))

    c, p = basis.index, basis.preset
    ranks = ranked(predicted(state, basis, now), len(PRESETS) - 1)
    # A listener still here late in the chunk is likelier to play on: the chance of leaving
    # is spread over the chunk, and only what is left of it counts.
    left = 1.0 - _into_chunk(playback.position_at(now, track.duration_ms), c)
    stay_now = 1.0 - (1.0 - stay) * left
    add("L1", p, c, 1.0)
    add("L1", p, c + 1, stay_now)
    # A switch inside chunk c needs c of the new preset at once; a listener trying presets out
    # may go to any of them.
    soon = listener.switch_within(round(left * CHUNK_MS))
    anywhere = soon * listener.explore_share
    switch_to = {preset: max(soon * prob, anywhere) for preset, prob in ranks}
    for preset, prob in sorted(switch_to.items(), key=lambda item: -item[1]):
        if prob > L1_MIN_PROBABILITY:
            add("L1", preset, c, prob)
    requested = state.cache.requested
    if requested is not None and is_current(state, requested):
        out.append(("L1", requested, 1.0, True))
    following = _next_track(state, basis, count)
    if following is not None and c >= count - 1:
        out.append(("L1", following, 0.9, worth_rendering(0.9, 0)))
    for i in range(2, 5):
        add("L2", p, c + i, stay_now * stay ** (i - 1))
    for preset, prob in ranks:
        add("L2", preset, c, switch_to[preset])
        add("L2", preset, c + 1, listener.switch * prob * stay)
    # A seek lands anywhere in the track, and its chunk is needed at once; a chunk rendered now
    # serves every seek that lands on it while the track plays: the chance that one of the
    # seeks expected in the rest of the track (the seek chance per chunk, for each chunk left)
    # lands on it.
    # Only a chunk likely enough to render is wanted for it (a seeker's track, not a long
    # track's every chunk for a listener who seeked once).
    seeks = listener.seek * (count - c - 1 + left)
    landing = 1.0 - (1.0 - 1.0 / (count - 1)) ** seeks if count > 1 else 0.0
    if landing >= SEEK_RENDER:
        for i in range(count):
            if i != c:
                add("L2", p, i, landing, seek=True)
    if following is not None:
        tier: TierName = "L1" if listener.skip > L1_SKIP else "L2"
        out.append((tier, following, listener.skip, worth_rendering(listener.skip, 0)))
    for i in range(2, 10):
        add("L3", p, c + i, stay_now * stay ** (i - 1))
    return out


def _into_chunk(position_ms: int, index: int) -> float:
    return min(1.0, max(0.0, (position_ms - index * CHUNK_MS) / CHUNK_MS))


def before_checkpoint(state: State, now: int) -> bool:
    """Whether the playhead plays and has not yet reached `CHECKPOINT_MS` into its chunk. The
    checkpoint is a *position*, not a time: the plan is made again at the first event that finds
    the playhead past it, however fast the player plays."""
    playback = state.playback
    if playback.status != "playing" or playback.track is None:
        return False
    return before_checkpoint_of(playback, state.duration_of(playback.track), now)


def before_checkpoint_of(playback: Playback, duration_ms: int | None, now: int) -> bool:
    """`before_checkpoint` given the playing track's duration (None: not known)."""
    if playback.status != "playing" or playback.track is None:
        return False
    return playback.position_at(now, duration_ms) % CHUNK_MS < CHECKPOINT_MS


def worth_rendering(probability: float, ahead: int) -> bool:
    """Whether a wish is likely enough to render now, given how many chunks ahead it would be
    needed (0: at once — after a switch, a seek or a skip, or the queued track's first chunk,
    needed as soon as this one is left)."""
    return probability >= RENDER_AHEAD[min(ahead, len(RENDER_AHEAD) - 1)]


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
    rendered: set[ChunkKey] = set()  # worth rendering for one of its wishes at least
    for order, (tier, key, probability, render) in enumerate(wishes):
        by_tier[tier].append((-probability, order, key))
        if render:
            rendered.add(key)
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
                wants.append((ident, Want(key, tier, -negative, size, key in rendered)))
    return wants
