"""The packaged exemplar pool (size, coverage, no near-duplicates), its loader and the sampler."""

from __future__ import annotations

import itertools
import json
import random
import re
from collections import Counter

import pytest
from dive.synth.exemplars import (
    DOMAINS,
    STRUCTURES,
    Exemplar,
    load_exemplars,
    sample_exemplars,
)


@pytest.fixture(scope="module")
def pool() -> list[Exemplar]:
    return load_exemplars()


# ---------------------------------------------------------------- the pool


def test_pool_size_and_unique_ids_and_texts(pool):
    assert len(pool) >= 300
    assert len({ex.id for ex in pool}) == len(pool)
    assert len({ex.text.casefold() for ex in pool}) == len(pool)
    assert all(re.fullmatch(r"ex-\d{4}", ex.id) for ex in pool)


def test_every_structure_is_well_represented(pool):
    counts = Counter(ex.structure for ex in pool)
    assert set(counts) == set(STRUCTURES)
    for structure in STRUCTURES:
        assert counts[structure] >= 25, (structure, counts[structure])


def test_cross_domain_exemplars_span_several_domains(pool):
    cross = [ex for ex in pool if ex.structure == "cross_domain"]
    assert len(cross) >= 60
    assert all(len(ex.domains) >= 2 for ex in cross), [ex.id for ex in cross if len(ex.domains) < 2]


def test_domains_hops_and_lengths_are_sane(pool):
    for ex in pool:
        assert set(ex.domains) <= set(DOMAINS), ex.id
        assert 1 <= ex.hops <= 5
        sentences = [s for s in re.split(r"(?<=[.?!])\s+(?=[A-Z])", ex.text) if s]
        assert 1 <= len(sentences) <= 4, ex.id
    assert {d for ex in pool for d in ex.domains} == set(DOMAINS)
    assert len({ex.hops for ex in pool}) >= 4


def test_pool_has_varied_phrasing(pool):
    texts = [ex.text for ex in pool]
    assert sum(t.endswith("?") for t in texts) >= 100
    assert sum(not t.endswith("?") for t in texts) >= 100  # imperatives
    for marker in ("how many", "which", "if ", "otherwise", "then", "convert", "average", "total"):
        assert sum(marker in t.lower() for t in texts) >= 5, marker


_PATH = re.compile(r"\S*(?:/|\.[a-z]{2,4}\b)\S*")  # file paths and file names are entities too
_QUOTED = re.compile(r"'[^']*'")
_CAPITALISED = re.compile(r"\b[A-Z][\w'’.-]*")
_NUMBER = re.compile(r"\d[\d.,:]*")


def _normalise(text: str) -> str:
    text = _PATH.sub(" ", text)
    text = _QUOTED.sub(" ", text)
    text = _CAPITALISED.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    return " ".join(re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower()))


def test_normalise_strips_entities():
    a = _normalise("Which airports in Mexico sit above 2,000 metres? See notes/travel/lyon.md.")
    b = _normalise("Which airports in Peru sit above 3,500 metres? See notes/travel/lima.md.")
    assert a == b == "airports in sit above metres"


def test_no_two_texts_differ_only_by_entities(pool):
    by_form: dict[str, list[str]] = {}
    for ex in pool:
        by_form.setdefault(_normalise(ex.text), []).append(ex.id)
    clashes = {form: ids for form, ids in by_form.items() if len(ids) > 1}
    assert not clashes


def test_no_near_duplicate_pairs(pool):
    tokens = {ex.id: set(_normalise(ex.text).split()) for ex in pool}
    near = []
    for a, b in itertools.combinations(pool, 2):
        ta, tb = tokens[a.id], tokens[b.id]
        if ta and tb and len(ta & tb) / len(ta | tb) > 0.9:
            near.append((a.id, b.id))
    assert not near


# ---------------------------------------------------------------- sampling


def test_sampling_is_deterministic_for_a_given_rng_state(pool):
    first = sample_exemplars(pool, random.Random(7), 5)
    second = sample_exemplars(pool, random.Random(7), 5)
    assert [ex.id for ex in first] == [ex.id for ex in second]
    others = {tuple(ex.id for ex in sample_exemplars(pool, random.Random(seed), 5)) for seed in range(20)}
    assert len(others) > 15


def test_sampling_returns_k_distinct_exemplars_of_different_structures(pool):
    for seed in range(50):
        for k in (3, 4, 5):
            picked = sample_exemplars(pool, random.Random(seed), k)
            assert len(picked) == k
            assert len({ex.id for ex in picked}) == k
            assert len({ex.structure for ex in picked}) == k


def test_sampling_prefers_the_given_domains(pool):
    for seed in range(30):
        picked = sample_exemplars(pool, random.Random(seed), 5, domains={"media"})
        assert all("media" in ex.domains for ex in picked)
        assert len({ex.structure for ex in picked}) == 5
        picked = sample_exemplars(pool, random.Random(seed), 4, domains={"database", "web"})
        assert all({"database", "web"} & set(ex.domains) for ex in picked)
        # exemplars entirely within the domains come before those that only touch them
        assert all(set(ex.domains) <= {"database", "web"} for ex in picked)


def test_sampling_falls_back_when_too_few_touch_the_domains():
    pool = [Exemplar(id=f"e{i}", structure=STRUCTURES[i % 3], domains=("web",) if i < 2 else ("files",),
                     hops=1, text=f"query {i}") for i in range(6)]
    for seed in range(10):
        picked = sample_exemplars(pool, random.Random(seed), 4, domains={"web"})
        assert len({ex.id for ex in picked}) == 4
        assert {"e0", "e1"} <= {ex.id for ex in picked}
    picked = sample_exemplars(pool, random.Random(0), 3, domains={"nonexistent"})
    assert len(picked) == 3


def test_sampling_refuses_more_than_the_pool_and_handles_duplicates():
    ex = Exemplar(id="a", structure="ranking", domains=("web",), hops=1, text="rank them")
    other = Exemplar(id="b", structure="ranking", domains=("web",), hops=1, text="rank those")
    assert sample_exemplars([ex, other], random.Random(0), 0) == []
    with pytest.raises(ValueError, match="distinct"):
        sample_exemplars([ex, ex, other], random.Random(0), 3)
    assert {e.id for e in sample_exemplars([ex, ex, other], random.Random(0), 2)} == {"a", "b"}
    with pytest.raises(ValueError):
        sample_exemplars([ex], random.Random(0), -1)


# ---------------------------------------------------------------- user files


def _line(**overrides) -> str:
    record = {"id": "u-1", "structure": "comparison", "domains": ["web", "myserver"], "hops": 2,
              "text": "Which of the two is larger?"}
    record.update(overrides)
    return json.dumps(record)


def test_a_user_file_in_the_same_form_loads(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text(_line() + "\n\n" + _line(id="u-2", structure="temporal", text="When did it start?") + "\n")
    loaded = load_exemplars(path)
    assert [ex.id for ex in loaded] == ["u-1", "u-2"]
    assert loaded[0].domains == ("web", "myserver")
    assert load_exemplars(str(path)) == loaded


@pytest.mark.parametrize(("bad", "problem"), [
    ('{"id": "u-3", "structure": ', "invalid JSON"),
    ('["not", "an", "object"]', "JSON object"),
    (_line(id="u-3", structure="guessing"), "structure"),
    (_line(id="u-3", hops=9), "hops"),
    (_line(id="u-3", domains=[]), "domains"),
    (_line(id="u-3", text="   "), "text"),
    (_line(id="u-3", answer="42"), "answer"),
    (_line(id="u-1"), "duplicate id"),
])
def test_a_malformed_user_file_is_refused_with_its_line_number(tmp_path, bad, problem):
    path = tmp_path / "broken.jsonl"
    path.write_text("\n".join([_line(), _line(id="u-2"), bad]) + "\n")
    with pytest.raises(ValueError, match="line 3") as info:
        load_exemplars(path)
    assert problem in str(info.value)
    assert str(path) in str(info.value)


def test_an_empty_user_file_is_refused(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    with pytest.raises(ValueError, match="no exemplars"):
        load_exemplars(path)
