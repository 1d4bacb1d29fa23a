"""Author credit from paper scores under a byline counting rule.

Pure functions over index arrays: an authorship is a (paper index, author index, position)
triple; positions are 0 for the first author.
"""

from __future__ import annotations

import numpy as np
import torch

from ..choices import COUNTING


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


def _csr(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int],
         device: torch.device | str = "cpu") -> torch.Tensor:
    import warnings

    coo = torch.sparse_coo_tensor(torch.from_numpy(np.stack([rows, cols])), torch.from_numpy(vals.astype(np.float64)),
                                  size=shape, check_invariants=False).coalesce()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return coo.to_sparse_csr().to(device)


def _coo_edges(m: torch.Tensor, *, drop_diagonal: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, col, value) of a sparse CSR matrix's nonzero entries, as numpy arrays."""
    crow, col, val = m.crow_indices().cpu(), m.col_indices().cpu(), m.values().cpu()
    rows = torch.repeat_interleave(torch.arange(m.shape[0]), crow[1:] - crow[:-1])
    keep = val != 0
    if drop_diagonal:
        keep &= rows != col
    return rows[keep].numpy(), col[keep].numpy(), val[keep].numpy()


def author_citation_edges(cited_t: torch.Tensor, paper: np.ndarray, author: np.ndarray, weight: np.ndarray,
                          n_authors: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges of the author citation graph: author ``A`` cites author ``B`` through their papers.

    Parameters
    ----------
    cited_t : torch.Tensor
        Sparse CSR ``E^T [n_papers, n_papers]``: row = cited paper, column = citing paper,
        value = the citation's weight.
    paper, author, weight : numpy.ndarray
        Authorships and their counting weights ``C[p, a]``.
    n_authors : int

    Returns
    -------
    citing, cited, weight : numpy.ndarray
        ``W[A, B] = sum_{p cites q} C[p, A] E[p, q] C[q, B]``, nonzero entries only (author
        self-citations included), computed as two sparse products ``C^T (E^T C)``.
    """
    n_papers = cited_t.shape[0]
    c = _csr(paper, author, weight, (n_papers, n_authors), cited_t.device)
    ct = _csr(author, paper, weight, (n_authors, n_papers), cited_t.device)
    m1 = torch.sparse.mm(cited_t, c)  # [cited paper q, citing author A]
    wt = torch.sparse.mm(ct, m1)  # [cited author B, citing author A]
    cited_a, citing_a, w = _coo_edges(wt, drop_diagonal=False)
    return citing_a, cited_a, w


def coauthor_edges(paper: np.ndarray, author: np.ndarray, n_papers: int, n_authors: int,
                   rule: str = "joint_papers") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges (both directions) of the coauthorship graph from authorships.

    ``joint_papers``: each shared paper adds 1 to a pair; ``fractional``: a paper with ``k``
    authors adds ``1 / (k - 1)`` to each of its pairs (so each author spreads 1 per paper).
    Computed as ``C^T D C`` without its diagonal, ``D`` the per-paper weight.
    """
    if rule not in ("joint_papers", "fractional"):
        raise ValueError(f"coauthor weight must be joint_papers or fractional, got {rule!r}")
    k = np.bincount(paper, minlength=n_papers).astype(np.float64)
    d = np.ones(n_papers) if rule == "joint_papers" else np.divide(1.0, k - 1, out=np.zeros(n_papers), where=k > 1)
    ct = _csr(author, paper, d[paper], (n_authors, n_papers))
    c = _csr(paper, author, np.ones(paper.size), (n_papers, n_authors))
    w = torch.sparse.mm(ct, c)
    return _coo_edges(w, drop_diagonal=True)


def coranking(paper_t: torch.Tensor, paper_dangling: torch.Tensor, author_t: torch.Tensor,
              author_dangling: torch.Tensor, paper: np.ndarray, author: np.ndarray, *, jump: float = 0.2,
              alpha: float = 0.85, tol: float = 1e-10,
              max_iter: int = 1000) -> tuple[torch.Tensor, torch.Tensor, int, float]:
    """Co-ranking of papers and authors by coupled random walks (Zhou, Orshanskiy, Zha, Giles 2007).

    Parameters
    ----------
    paper_t, author_t : torch.Tensor
        Sparse CSR column-stochastic transitions ``P^T`` of the citation graph and of the
        coauthorship graph (dangling columns zero), float64.
    paper_dangling, author_dangling : torch.Tensor
        ``int64`` indices of their dangling nodes.
    paper, author : numpy.ndarray
        Authorships (each pair once): the bipartite graph between the two walks.
    jump : float
        ``lambda``: probability of crossing to the other class at each step, in (0, 1) (at 0 the
        walks decouple and the split between classes is undefined; at 1 the chain can be periodic).
    alpha, tol, max_iter :
        Damping of both intra-class walks; stop when the L1 change of the joint vector < tol.

    Returns
    -------
    papers, authors : torch.Tensor
        ``float64`` stationary scores; together they sum to 1.
    iterations : int
    residual : float

    Notes
    -----
    One chain on papers and authors. From a node with a neighbour across the bipartite graph,
    with probability ``lambda`` the walker moves to one of them uniformly; otherwise (and always
    from a node with none) it takes a PageRank step in its own graph:
    ``G y = alpha P^T y + (alpha d(y) + (1 - alpha) 1^T y) / n``. So
    ``x_D' = G_D((1 - l_D) x_D) + B_AD (l_A x_A)`` and ``x_A' = G_A((1 - l_A) x_A) + B_DA (l_D x_D)``
    with ``l`` the per-node jump probability. This is the paper's scheme with one intra-class
    step per jump (its ``m = n = 1``).

    References
    ----------
    D. Zhou, S. A. Orshanskiy, H. Zha, C. L. Giles, "Co-ranking authors and documents in a
    heterogeneous network", ICDM 2007.
    """
    n_p, n_a = paper_t.shape[0], author_t.shape[0]
    dev = paper_t.device
    p_t, a_t = torch.from_numpy(paper).to(dev), torch.from_numpy(author).to(dev)
    deg_p = torch.bincount(p_t, minlength=n_p).to(torch.float64)
    deg_a = torch.bincount(a_t, minlength=n_a).to(torch.float64)
    lam_p = torch.where(deg_p > 0, jump, 0.0).to(torch.float64).unsqueeze(1)
    lam_a = torch.where(deg_a > 0, jump, 0.0).to(torch.float64).unsqueeze(1)
    inv_p = torch.where(deg_p > 0, 1.0 / deg_p, torch.zeros_like(deg_p))
    inv_a = torch.where(deg_a > 0, 1.0 / deg_a, torch.zeros_like(deg_a))

    def g(t: torch.Tensor, dangling: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z = torch.sparse.mm(t, y) if t._nnz() else torch.zeros_like(y)
        spill = alpha * y.index_select(0, dangling).sum() + (1 - alpha) * y.sum()
        return z.mul_(alpha).add_(spill / y.shape[0])

    def cross(y: torch.Tensor, src: torch.Tensor, dst: torch.Tensor, inv: torch.Tensor, n_dst: int) -> torch.Tensor:
        flow = y.index_select(0, src) * inv.index_select(0, src).unsqueeze(1)
        return torch.zeros((n_dst, 1), dtype=torch.float64, device=dev).index_add_(0, dst, flow)

    total = n_p + n_a
    x_p = torch.full((n_p, 1), 1.0 / total, dtype=torch.float64, device=dev)
    x_a = torch.full((n_a, 1), 1.0 / total, dtype=torch.float64, device=dev)
    res = float("inf")
    for it in range(1, max_iter + 1):
        new_p = g(paper_t, paper_dangling, (1 - lam_p) * x_p) + cross(lam_a * x_a, a_t, p_t, inv_a, n_p)
        new_a = g(author_t, author_dangling, (1 - lam_a) * x_a) + cross(lam_p * x_p, p_t, a_t, inv_p, n_a)
        res = float((new_p - x_p).abs().sum() + (new_a - x_a).abs().sum())
        x_p, x_a = new_p, new_a
        if res < tol:
            return x_p[:, 0], x_a[:, 0], it, res
    return x_p[:, 0], x_a[:, 0], max_iter, res
