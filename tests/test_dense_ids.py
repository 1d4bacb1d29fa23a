"""Renumbering arbitrary ids for notebook users, and the solvers' checks of teleport vectors."""

import numpy as np
import pyarrow as pa
import pytest
import torch

from oracles import nx_pagerank
from ranker import build_graph, pagerank, personalized_pagerank, renumber
from ranker.solvers.dag import dag_pagerank


def test_string_ids_numbered_by_first_appearance_and_mapped_back():
    r = renumber(["W9", "W7", "W9", "W3"], ["W7", "W1", "W1", "W9"])
    assert r.n == 4 and r.ids.to_pylist() == ["W9", "W7", "W1", "W3"]
    assert r.citing.tolist() == [0, 1, 0, 3] and r.cited.tolist() == [1, 2, 2, 0]
    assert r.labels(torch.tensor([2, 0])).to_pylist() == ["W1", "W9"]
    assert r.index(["W3", "W7"]).tolist() == [3, 1]
    with pytest.raises(KeyError, match="W5"):
        r.index(["W5"])


def test_sparse_integers_unsigned_and_dictionary_inputs_give_one_graph():
    citing = [10**12, 5, 10**12, 7]
    cited = [5, 7, 7, 10**12]
    plain = renumber(citing, cited)
    variants = [renumber(np.array(citing), np.array(cited, dtype=np.uint64)),
                renumber(pa.array(citing).dictionary_encode(), pa.array(cited)),
                renumber(torch.tensor(citing), pa.chunked_array([pa.array(cited[:2]), pa.array(cited[2:])]))]
    try:
        import pandas as pd
    except ImportError:  # pandas is not a test dependency; its Series go through the same Arrow path
        pass
    else:
        variants.append(renumber(pd.Series(citing), pd.Series(cited)))
    for r in variants:
        assert r.ids.to_pylist() == plain.ids.to_pylist()
        assert torch.equal(r.citing, plain.citing) and torch.equal(r.cited, plain.cited)
    g = build_graph(plain.citing, plain.cited, plain.n)
    e = np.stack([plain.citing.numpy(), plain.cited.numpy()], 1)
    np.testing.assert_allclose(pagerank(g, tol=1e-13).scores[:, 0].numpy(), nx_pagerank(e, plain.n), atol=1e-12)


@pytest.mark.parametrize("citing, cited, message", [
    (["a", None], ["b", "c"], "citing, row 1: null id"),
    (["a"], ["b", "c"], "citing has 1 rows, cited has 2"),
    ([1, 2], ["a", "b"], "use one kind for both"),
    ([1.5], [2.5], "must be strings or integers"),
])
def test_bad_ids_are_refused_with_the_row(citing, cited, message):
    with pytest.raises(ValueError, match=message):
        renumber(citing, cited)


@pytest.mark.parametrize("solver", ["power", "dag-compiled", "dag-torch"])
def test_solvers_refuse_teleports_that_are_not_distributions(solver):
    g = build_graph(torch.tensor([0, 1, 2]), torch.tensor([1, 2, 0]), 3)

    def run(t):
        if solver == "power":
            return personalized_pagerank(g, t)
        return dag_pagerank(g, t, kernel=solver.split("-")[1])

    with pytest.raises(ValueError, match="column 1 sums to 3"):
        run(torch.tensor([[1.0, 1.0], [0.0, 1.0], [0.0, 1.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match="column 0 has a negative"):
        run(torch.tensor([[1.5], [-0.5], [0.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match="shape"):
        run(torch.full((4, 1), 0.25, dtype=torch.float64))
    ok = run(torch.tensor([[0.2], [0.3], [0.5]], dtype=torch.float32))
    res = ok[0] if isinstance(ok, tuple) else ok
    assert abs(float(res.scores.sum()) - 1.0) < 1e-6
