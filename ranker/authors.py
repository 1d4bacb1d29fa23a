"""Author credit from paper scores under a byline counting rule.

Pure functions over index arrays: an authorship is a (paper index, author index, position)
triple; positions are 0 for the first author.
"""

from __future__ import annotations

import numpy as np
import torch

COUNTING = ("full", "fractional", "harmonic", "first_last")


def counting_weights(paper: np.ndarray, position: np.ndarray, rule: str) -> np.ndarray:
    """Credit share of each authorship of its paper.

    Parameters
    ----------
    paper : numpy.ndarray
        ``int64 [m]`` paper of each authorship (each (paper, author) pair once).
    position : numpy.ndarray
        ``int64 [m]`` byline position, 0 = first author; within a paper the positions are
        ranked, so gaps do not matter.
    rule : {"full", "fractional", "harmonic", "first_last"}

    Returns
    -------
    numpy.ndarray
        ``float64 [m]``.

    Notes
    -----
    With ``k`` authors and ``r = 1..k`` the rank of the position:

    - ``full``: 1 to every author (mass is not conserved: a paper counts k times).
    - ``fractional``: ``1 / k``.
    - ``harmonic``: ``(1 / r) / sum_{s=1..k} 1 / s`` (Hagen 2008): the first author most.
    - ``first_last``: first and last author weigh 2, the others 1, normalized to sum 1
      (a single author gets 1).

    All but ``full`` sum to 1 over a paper's authors, so author scores sum to the paper scores.

    References
    ----------
    N. T. Hagen, "Harmonic allocation of authorship credit: source-level correction of
    bibliometric bias assures accurate publication and citation analysis", PLoS ONE 3(12), 2008.
    """
    if rule not in COUNTING:
        raise ValueError(f"counting must be one of {COUNTING}, got {rule!r}")
    m = paper.size
    if m == 0:
        return np.zeros(0)
    order = np.lexsort((position, paper))
    p_sorted = paper[order]
    starts = np.flatnonzero(np.r_[True, p_sorted[1:] != p_sorted[:-1]])
    k_group = np.diff(np.r_[starts, m])
    k = np.repeat(k_group, k_group)
    r = np.arange(m) - np.repeat(starts, k_group) + 1  # 1-based rank within the paper
    if rule == "full":
        w = np.ones(m)
    elif rule == "fractional":
        w = 1.0 / k
    elif rule == "harmonic":
        h = np.cumsum(1.0 / np.arange(1, k_group.max() + 1))  # h[k-1] = sum_{s<=k} 1/s
        w = (1.0 / r) / h[k - 1]
    else:
        raw = np.where((r == 1) | (r == k), 2.0, 1.0)
        w = raw / np.repeat(np.add.reduceat(raw, starts), k_group)
    out = np.empty(m)
    out[order] = w
    return out


def author_scores(paper: np.ndarray, author: np.ndarray, weight: np.ndarray, paper_scores: torch.Tensor,
                  n_authors: int) -> torch.Tensor:
    """``[n_authors, B]`` sum over each author's papers of ``weight x paper score``.

    One sparse product: ``S_A = C^T S_P`` with ``C[p, a]`` the authorship weights, done as an
    ``index_add`` on the scores' device (deterministic on the CPU).
    """
    dev = paper_scores.device
    contrib = paper_scores.index_select(0, torch.from_numpy(paper).to(dev))
    contrib = contrib * torch.from_numpy(weight).to(dev, paper_scores.dtype).unsqueeze(1)
    out = torch.zeros((n_authors, paper_scores.shape[1]), dtype=paper_scores.dtype, device=dev)
    return out.index_add_(0, torch.from_numpy(author).to(dev), contrib)
