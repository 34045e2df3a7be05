"""A persistent map: an immutable mapping whose `set` and `delete` return a new map in O(log n).

The fold keeps the library (and what it learned about each track) in maps that every event of a
scan changes; copying a dict per event made a scan of n tracks cost O(n²) (50 000 tracks: 7–23 s
of folding). This is a hash array mapped trie: 32-way nodes addressed by five bits of a stable
hash of the key (CRC-32, the same on every run and machine — Python's `hash` is salted), so an
update copies one small node per level (at most seven), and the old map stays valid.

Iteration is in key order, so whatever reads a map sees the same sequence on every machine; a map
equals another with the same items, whatever their history.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Final, Generic, TypeVar, cast, overload

V = TypeVar("V")
T = TypeVar("T")

_BITS: Final = 5
_WIDTH: Final = 1 << _BITS
_MASK: Final = _WIDTH - 1
_DEPTHS: Final = 7  # 7 levels of 5 bits cover the 32-bit hash; keys alike beyond share a bucket


class _Leaf(Generic[V]):
    __slots__ = ("key", "value")

    def __init__(self, key: str, value: V) -> None:
        self.key = key
        self.value = value


_Node = dict[int, object]  # slot -> _Node | _Leaf | tuple[_Leaf, ...] (a bucket, at the last level)


def _hash(key: str) -> int:
    return zlib.crc32(key.encode("utf-8", "surrogatepass"))


def _slot(code: int, depth: int) -> int:
    return (code >> (_BITS * depth)) & (_WIDTH - 1)


class PMap(Mapping[str, V]):
    """An immutable mapping of text keys; `set`/`delete` share all but one path with `self`."""

    __slots__ = ("_root", "_size", "_last")

    def __init__(self, items: Mapping[str, V] | Iterable[tuple[str, V]] = ()) -> None:
        self._root: _Node = {}
        self._size = 0
        self._last: _Leaf[object] | None = None
        pairs = items.items() if isinstance(items, Mapping) else items
        for key, value in pairs:
            self._root, added = _put(self._root, _hash(key), 0, key, value)
            self._size += added

    @classmethod
    def _of(cls, root: _Node, size: int) -> PMap[V]:
        made: PMap[V] = cls.__new__(cls)
        made._root, made._size, made._last = root, size, None
        return made

    def set(self, key: str, value: V) -> PMap[V]:
        root, added = _put(self._root, _hash(key), 0, key, value)
        return self._of(root, self._size + added)

    def delete(self, key: str) -> PMap[V]:
        """Without `key` (the same map when it is absent)."""
        root = _drop(self._root, _hash(key), 0, key)
        if root is None:
            return self
        return self._of(root, self._size - 1)

    def __getitem__(self, key: str) -> V:
        found = _find(self._root, _hash(key), key)
        if found is None:
            raise KeyError(key)
        return cast(V, found.value)

    @overload
    def get(self, key: str, /) -> V | None: ...
    @overload
    def get(self, key: str, /, default: V | T) -> V | T: ...

    def get(self, key: str, /, default: object = None) -> object:
        """`Mapping.get` in one walk down the trie, remembering the entry found: the fold looks
        up the playing track on nearly every event, in a map that rarely changes (the map is
        immutable, so what it found stays true)."""
        last = self._last
        if last is not None and last.key == key:
            return last.value
        if type(key) is not str:
            return default if key not in self else self[key]
        found = _find(self._root, _hash(key), key)
        if found is None:
            return default
        self._last = found
        return found.value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and _find(self._root, _hash(key), key) is not None

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(leaf.key for leaf in _leaves(self._root)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self.items())!r})"


def _find(node: _Node, code: int, key: str) -> _Leaf[object] | None:
    for _ in range(_DEPTHS):
        child = node.get(code & _MASK)
        if child is None:
            return None
        kind = type(child)
        if kind is _Leaf:
            leaf = cast(_Leaf[object], child)
            return leaf if leaf.key == key else None
        if kind is tuple:
            bucket = cast(tuple[_Leaf[object], ...], child)
            return next((leaf for leaf in bucket if leaf.key == key), None)
        node = cast(_Node, child)
        code >>= _BITS
    return None


def _put(node: _Node, code: int, depth: int, key: str, value: object) -> tuple[_Node, int]:
    """`node` with `key` set (a copy), and 1 when the key is new."""
    slot = _slot(code, depth)
    child = node.get(slot)
    copy = dict(node)
    if child is None:
        copy[slot] = _Leaf(key, value)
        return copy, 1
    if isinstance(child, dict):
        copy[slot], added = _put(child, code, depth + 1, key, value)
        return copy, added
    if isinstance(child, tuple):
        kept = tuple(leaf for leaf in child if leaf.key != key)
        copy[slot] = (*kept, _Leaf(key, value))
        return copy, int(len(kept) == len(child))
    assert isinstance(child, _Leaf)
    if child.key == key:
        copy[slot] = _Leaf(key, value)
        return copy, 0
    if depth + 1 == _DEPTHS:
        copy[slot] = (child, _Leaf(key, value))
        return copy, 1
    split: _Node = {_slot(_hash(child.key), depth + 1): child}
    copy[slot], _ = _put(split, code, depth + 1, key, value)
    return copy, 1


def _drop(node: _Node, code: int, depth: int, key: str) -> _Node | None:
    """`node` without `key` (a copy), or None when the key is not there."""
    slot = _slot(code, depth)
    child = node.get(slot)
    if child is None:
        return None
    copy = dict(node)
    if isinstance(child, dict):
        sub = _drop(child, code, depth + 1, key)
        if sub is None:
            return None
        if sub:
            copy[slot] = _collapsed(sub)
        else:
            del copy[slot]
        return copy
    if isinstance(child, tuple):
        kept = tuple(leaf for leaf in child if leaf.key != key)
        if len(kept) == len(child):
            return None
        copy[slot] = kept[0] if len(kept) == 1 else kept
        return copy
    assert isinstance(child, _Leaf)
    if child.key != key:
        return None
    del copy[slot]
    return copy


def _collapsed(node: _Node) -> object:
    """A node left with a single leaf is replaced by the leaf (so equal maps look alike)."""
    if len(node) == 1:
        (only,) = node.values()
        if isinstance(only, _Leaf):
            return only
    return node


def _leaves(node: _Node) -> Iterator[_Leaf[object]]:
    for child in node.values():
        if isinstance(child, _Leaf):
            yield child
        elif isinstance(child, tuple):
            yield from child
        else:
            yield from _leaves(child)  # type: ignore[arg-type]
