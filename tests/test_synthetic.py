"""The synthetic generator: deterministic, time-ordered, heavy-tailed, with authors and seeds."""

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ranker.synthetic import SyntheticSpec, generate


def test_generator_is_deterministic_and_realistic(tmp_path):
    spec = SyntheticSpec(papers=5000, mean_references=8, seed=1, chunk_papers=1000)
    m1 = generate(tmp_path / "a", spec)
    m2 = generate(tmp_path / "b", spec)
    assert m1 == m2
    for name in ("citations", "papers.parquet", "authorships.parquet", "seeds.parquet"):
        assert pq.read_table(tmp_path / "a" / name).equals(pq.read_table(tmp_path / "b" / name))
    cit = pq.read_table(tmp_path / "a" / "citations")
    assert cit.num_rows == m1["citations"] and 0.6 * 8 * 5000 < cit.num_rows < 1.4 * 8 * 5000
    papers = pq.read_table(tmp_path / "a" / "papers.parquet")
    order = {p: i for i, p in enumerate(papers.column("paper_id").to_pylist())}
    citing = np.array([order[p] for p in cit.column("citing").to_pylist()])
    cited = np.array([order[p] for p in cit.column("cited").to_pylist()])
    assert (cited < citing).mean() > 0.97  # mostly older papers ...
    assert (cited > citing).any() and (cited == citing).sum() < 0.01 * len(cited)  # ... a few newer: cycles
    indeg = np.bincount(cited, minlength=5000)
    assert indeg.max() > 20 * indeg.mean()  # heavy tail
    dates = papers.column("date").to_numpy()
    assert (np.diff(dates.astype("int64")) >= 0).all()
    auth = pq.read_table(tmp_path / "a" / "authorships.parquet")
    per_paper = pc.value_counts(auth.column("paper_id"))
    assert len(per_paper) == 5000 and max(c["counts"] for c in per_paper.to_pylist()) <= 10
    assert pc.min(auth.column("position")).as_py() == 0
    seeds = pq.read_table(tmp_path / "a" / "seeds.parquet")
    assert len(set(seeds.column("seed_set").to_pylist())) == spec.seed_sets


def test_generate_reuses_matching_files(tmp_path):
    spec = SyntheticSpec(papers=300)
    generate(tmp_path, spec)
    stamp = (tmp_path / "papers.parquet").stat().st_mtime_ns
    generate(tmp_path, spec)
    assert (tmp_path / "papers.parquet").stat().st_mtime_ns == stamp
    generate(tmp_path, SyntheticSpec(papers=301))
    assert pq.read_table(tmp_path / "papers.parquet").num_rows == 301


def test_integer_ids(tmp_path):
    generate(tmp_path, SyntheticSpec(papers=400, id_kind="integer"))
    assert str(pq.read_schema(tmp_path / "papers.parquet").field("paper_id").type) == "int64"


def test_existing_data_is_never_replaced(tmp_path):
    """A directory the generator did not make is refused, whatever it holds; nothing in it is touched."""
    import pytest

    from ranker.errors import ConfigError

    data = tmp_path / "mine"
    (data / "citations").mkdir(parents=True)
    (data / "citations" / "2024.parquet").write_bytes(b"a user's citations")
    (data / "seeds.parquet").write_bytes(b"a user's seeds")
    with pytest.raises(ConfigError, match=r"already holds files the generator did not write \(citations, "
                                          r"seeds.parquet\)"):
        generate(data, SyntheticSpec(papers=100))
    assert (data / "citations" / "2024.parquet").read_bytes() == b"a user's citations"
    assert (data / "seeds.parquet").read_bytes() == b"a user's seeds"
    assert sorted(p.name for p in data.iterdir()) == ["citations", "seeds.parquet"]


def test_own_directory_is_regenerated_for_a_new_spec(tmp_path):
    generate(tmp_path / "g", SyntheticSpec(papers=300, seed=1))
    m = generate(tmp_path / "g", SyntheticSpec(papers=400, seed=1))
    assert m["papers"] == 400 and pq.read_table(tmp_path / "g" / "papers.parquet").num_rows == 400
    assert not [p for p in (tmp_path / "g").iterdir() if p.name.startswith(".generating")]


def test_a_spec_that_generates_no_citation_says_so(tmp_path):
    import pytest

    from ranker.config import parse_config
    from ranker.errors import ConfigError, GraphError

    for synthetic in ({"papers": 1}, {"papers": 100, "mean_references": 0}):
        with pytest.raises(ConfigError, match=r"\[input.synthetic\] (papers must be >= 2|mean_references must be > 0)"):
            parse_config({"input": {"synthetic": synthetic}})
    with pytest.raises(GraphError, match="generated no citation; raise papers or mean_references"):
        generate(tmp_path / "tiny", SyntheticSpec(papers=2, mean_references=1e-9))


def test_regimes_shape_the_cycles_as_documented(tmp_path):
    """``spread``: few papers on cycles; ``cycles``: a sizeable share, mostly small and mid components;
    ``giant``: one component holding most papers. Measured with scipy's strong components."""
    import scipy.sparse
    from scipy.sparse.csgraph import connected_components

    from ranker.synthetic import REGIMES

    n = 30_000
    share, largest = {}, {}
    for name, over in REGIMES.items():
        generate(tmp_path / name, SyntheticSpec(papers=n, mean_references=12, id_kind="integer", **over))
        cit = pq.read_table(tmp_path / name / "citations")
        a = cit.column("citing").to_numpy()
        b = cit.column("cited").to_numpy()
        m = scipy.sparse.csr_array((np.ones(a.size), (a, b)), shape=(n, n))
        _, label = connected_components(m, directed=True, connection="strong")
        size = np.bincount(label)
        share[name] = (size[label] > 1).mean()
        largest[name] = size.max() / n
    assert share["spread"] < 0.02
    assert share["cycles"] > 5 * share["spread"] and share["cycles"] > 0.05
    assert largest["giant"] > 0.6 and largest["giant"] > 2 * largest["cycles"]
    assert share["spread"] < share["cycles30"] < share["cycles"]  # the middle regime sits between


def test_openalex_ids_are_the_integer_graph_under_a_bijection_with_shuffled_rows(tmp_path):
    import glob

    import pyarrow as pa

    from ranker.synthetic import OPENALEX_PREFIX, _paper_ids

    generate(tmp_path / "i", SyntheticSpec(papers=3000, id_kind="integer", rows_per_file=10_000))
    generate(tmp_path / "o", SyntheticSpec(papers=3000, id_kind="openalex", rows_per_file=10_000))

    def rows(d):
        t = pa.concat_tables([pq.read_table(f) for f in sorted(glob.glob(str(d / "citations" / "*.parquet")))])
        return t.column(0).to_pylist(), t.column(1).to_pylist()

    names = _paper_ids(np.arange(3000), "openalex").to_pylist()
    assert len(set(names)) == 3000 and all(n.startswith(OPENALEX_PREFIX) and len(n) == len(OPENALEX_PREFIX) + 10
                                           for n in names)
    index = {n: i for i, n in enumerate(names)}
    (ic, id_), (oc, od) = rows(tmp_path / "i"), rows(tmp_path / "o")
    assert sorted(zip(ic, id_)) == sorted((index[a], index[b]) for a, b in zip(oc, od))
    assert [index[a] for a in oc] != sorted(index[a] for a in oc)  # not in the citing papers' order


def test_chunks_cover_the_papers_and_stay_few_at_a_billion_citations():
    """Paper ranges are contiguous from 0 to n, none outgrows what it can cite; up to 33.5M papers
    they are the spec's 65,536 papers (graphs generated before are unchanged); past that there
    are at most about CHUNKS + 200 of them (the 1B-citation graph's 84M papers: each chunk costs
    a pass over every earlier paper, so a fixed size was quadratic)."""
    from ranker.synthetic import CHUNKS, _chunks

    for n in (1, 7, 30_000, 2_000_000, 20_000_000, 84_000_000, 250_000_000):
        bounds = _chunks(SyntheticSpec(papers=n))
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
        assert all(e - s <= max(1, s) for s, e in bounds[1:])
        if n <= 65_536 * CHUNKS:
            assert all(e - s <= 65_536 for s, e in bounds[1:])
        assert len(bounds) <= CHUNKS + 200, (n, len(bounds))
