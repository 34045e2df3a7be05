"""The persistent map behaves as a dict that never changes in place."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import pmap
from domain.pmap import PMap

keys = st.text(min_size=0, max_size=6)
ops = st.lists(st.tuples(st.booleans(), keys, st.integers()), max_size=200)


@settings(max_examples=200, deadline=None)
@given(ops)
def test_a_pmap_follows_a_dict_and_every_old_version_stays_as_it_was(
    steps: list[tuple[bool, str, int]],
) -> None:
    model: dict[str, int] = {}
    current: PMap[int] = PMap()
    history: list[tuple[PMap[int], dict[str, int]]] = []
    for put, key, value in steps:
        history.append((current, dict(model)))
        if put:
            model[key] = value
            current = current.set(key, value)
        else:
            model.pop(key, None)
            current = current.delete(key)
        assert len(current) == len(model)
        assert key in current if key in model else key not in current
    assert dict(current) == model
    assert list(current) == sorted(model)
    for old, expected in history:
        assert dict(old.items()) == expected
        assert old == PMap(expected)


def test_keys_whose_hashes_collide_all_the_way_down_share_a_bucket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pmap, "_hash", lambda key: 7)
    both = PMap({"a": 1, "b": 2, "c": 3})
    assert dict(both) == {"a": 1, "b": 2, "c": 3}
    assert dict(both.set("b", 20)) == {"a": 1, "b": 20, "c": 3}
    assert dict(both.delete("a").delete("c")) == {"b": 2} and len(both.delete("a")) == 2
    assert both.delete("zz") is both


def test_a_large_map_is_found_and_changed_without_touching_the_old_one() -> None:
    many = PMap({f"k{i}": i for i in range(5000)})
    assert len(many) == 5000 and many["k4242"] == 4242
    fewer = many.delete("k4242").delete("nope")
    assert "k4242" not in fewer and len(fewer) == 4999 and "k4242" in many


def test_get_answers_each_map_for_itself_after_sets_and_deletes() -> None:
    before = PMap({"a": 1, "b": 2})
    assert before.get("a") == 1  # remembered by `before`
    after = before.set("a", 10).delete("b")
    assert after.get("a") == 10
    assert after.get("b") is None and after.get("b", 0) == 0
    assert before.get("a") == 1 and before.get("b") == 2
    assert before.get(3, "none") == "none"  # type: ignore[call-overload]
