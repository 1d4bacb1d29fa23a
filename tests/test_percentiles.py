"""Percentiles within groups against pandas' ``groupby().rank(pct=True, method="average")``."""

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from ranker.percentiles import as_nullable, group_codes, group_percentiles


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.sampled_from([1990.0, 1991.0, np.nan]),
                          st.sampled_from(["hep-th", "cs.LG", None])), max_size=60))
def test_group_percentiles_equal_pandas_with_ties_and_null_keys(rows):
    values = np.array([r[0] for r in rows], np.float64)  # few distinct values: many ties
    year = np.array([r[1] for r in rows], np.float64)
    field = pa.array([r[2] for r in rows], pa.string())
    got = group_percentiles(values, group_codes([year, field]))
    df = pd.DataFrame({"v": values, "year": year, "field": field.to_pandas()})
    expected = df.groupby(["year", "field"])["v"].rank(pct=True, method="average").to_numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got[~np.isnan(got)], expected[~np.isnan(expected)], rtol=0, atol=1e-15)


def test_one_group_by_hand():
    # values 3, 1, 3, 2: ranks 3.5, 1, 3.5, 2 of 4
    got = group_percentiles(np.array([3.0, 1.0, 3.0, 2.0]), np.zeros(4, np.int64))
    assert got.tolist() == [0.875, 0.25, 0.875, 0.5]


def test_codes_do_not_depend_on_row_order_and_nulls_are_minus_one():
    a = group_codes([pa.array(["b", "a", None, "b"])])
    b = group_codes([pa.array(["a", None, "b", "b"])])
    assert a.tolist() == [1, 0, -1, 1] and b.tolist() == [0, -1, 1, 1]
    assert group_codes([pa.array([None, None], pa.null())]).tolist() == [-1, -1]
    assert group_codes([np.array([2000.0, np.nan])]).tolist() == [0, -1]


def test_nan_is_written_as_null():
    arr = as_nullable(np.array([0.5, np.nan]))
    assert arr.to_pylist() == [0.5, None]
