"""Hash numbering of int64 ids (ranker.kernels.numbering) against its dict reference and pyarrow's order."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from ranker.kernels.numbering import HashNumbering, number_reference

ints = st.integers(-2**63, 2**63 - 1) | st.integers(-3, 40)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(ints, max_size=60), min_size=1, max_size=6), st.integers(1, 64))
def test_codes_and_order_equal_the_reference_across_calls_and_growth(chunks, capacity):
    arrays = [np.array(c, np.int64) for c in chunks]
    numbering = HashNumbering(capacity)  # small capacities grow many times
    got = [numbering.number(a) for a in arrays]
    want, ids = number_reference(arrays)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(numbering.ids, ids)


def test_the_order_is_pyarrows_first_appearance_over_the_batches():
    rng = np.random.default_rng(0)
    batches = [rng.integers(10**9, 10**9 + 5000, 3000) for _ in range(5)]
    numbering = HashNumbering()
    codes = np.concatenate([numbering.number(b) for b in batches])
    enc = pc.dictionary_encode(pa.chunked_array([pa.array(b) for b in batches]))
    np.testing.assert_array_equal(numbering.ids, enc.chunk(0).dictionary.to_numpy())
    np.testing.assert_array_equal(codes, np.concatenate([c.indices.to_numpy() for c in enc.chunks]))


def test_a_million_sequential_ids_fit_in_under_fifty_bytes_each():
    numbering = HashNumbering()
    numbering.number(np.arange(10**9, 10**9 + 1_000_000, dtype=np.int64))
    assert len(numbering) == 1_000_000 and numbering.nbytes() / 1_000_000 < 50
