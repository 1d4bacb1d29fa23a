"""The commented job file ``rank-citations init`` writes (the rankers' names from :mod:`ranker.registry`)."""

from .registry import RANKERS

JOB_TEMPLATE = '''\
# A rank-citations job. Run it with:  rank-citations --config job.toml
# Check it first (every input and id, nothing written):  rank-citations validate --config job.toml
# Any key can be overridden on the command line:  --set rank.alpha=0.5
# Relative paths are read from this file's folder. Every key is described in the README ("Job file").

[input]
citations = "citations.parquet"   # a file, a folder or a glob: parquet, CSV, TSV or JSON Lines (gzipped or not)
citing_column = "citing"          # OpenAlex works: "id"
cited_column = "cited"            # OpenAlex works: "referenced_works" (a list column is exploded)
# weight_column = "weight"        # Semantic Scholar: "isinfluential" (booleans read as 0/1)
# weight_offset = 1.0             # added to every weight: 1 + isinfluential
# papers = "papers.parquet"       # every paper (paper_id), with year/date/title shown beside the scores
# unknown_papers = "keep"         # citations naming papers absent from `papers`: keep | drop | error
# authorships = "authorships.parquet"   # paper_id, author, optional position (0 = first author)

[rank]
alpha = 0.85                      # probability of following a citation
tol = 1e-10                       # stop when the L1 change is below tol
device = "auto"                   # auto | cuda | cpu
# algorithm = "pagerank"          # {algorithms}

# [personalize]                   # batched personalized PageRank: one column per seed set
# seeds = "seeds.parquet"         # seed_set, paper_id, optional weight
# top_k = 100
# exclude_seeds = false           # leave each set's own seeds out of its list

# [trajectories]                  # every year's ranking in one solve (needs papers with a year)
# years = "all"                   # or a list: [1995, 2000, 2005]
# top_k = 100                     # papers per year in trajectories.parquet; 0 keeps all

# [credit]                        # who a target paper's impact is owed to
# targets = "targets.parquet"     # column target (paper ids; optional kind = paper | author)

[output]
dir = "out"                       # papers.parquet, run.json (and personalized/trajectories/authors/credit)
# ties = "ordinal"                # rank of equal scores: ordinal | min | dense
# normalize_by = ["year"]         # percentiles within year (and a papers-file column: field, venue)
'''


def job_template() -> str:
    """The template, with the names of the paper rankers registered now."""
    return JOB_TEMPLATE.replace("{algorithms}", " | ".join(RANKERS))
