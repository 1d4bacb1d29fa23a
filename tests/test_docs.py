"""The docs cannot drift: the job-file reference is what config/sections.py says, every key the docs
name exists, every relative link of the README and docs/ leads to a file, and the template runs."""

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from ranker.config import SECTIONS, parse_config
from ranker.config.reference import BEGIN, END, job_template, reference_block

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_job_file_reference_is_written_from_the_config():
    text = (ROOT / "docs" / "job-file.md").read_text()
    block = text[text.index(BEGIN) + len(BEGIN):text.index(END)]
    fix = "run: python -m ranker.config.reference --write docs/job-file.md"
    assert block == "\n```toml\n" + reference_block() + "```\n", fix


def test_the_reference_holds_every_key_with_its_default():
    ref = tomllib.loads(reference_block())
    for section, (cls, _) in SECTIONS.items():
        table = ref
        for part in section.split("."):
            table = table[part]
        keys = {k for k, v in table.items() if not isinstance(v, dict)}
        fields = {f.name for f in dataclasses.fields(cls) if f.name != "synthetic"}
        assert keys == fields, (section, keys ^ fields)
        for f in dataclasses.fields(cls):
            if f.name in keys and f.metadata.get("shown") == "":
                want = list(f.default) if isinstance(f.default, tuple) else f.default
                assert table[f.name] == want, (section, f.name)


def test_every_key_the_docs_name_exists():
    named = set()
    for page in PAGES:
        for section, key, more in re.findall(r"`\[([a-z_.]+)\] ([a-z_]+)`((?:, `[a-z_]+`)*)", page.read_text()):
            named |= {(section, k) for k in [key, *re.findall(r"`([a-z_]+)`", more)]}
    assert len(named) > 40
    fields = {s: {f.name for f in dataclasses.fields(cls)} for s, (cls, _) in SECTIONS.items()}
    for section, key in named:
        assert section in fields, f"[{section}] is no section"
        assert key in fields[section], f"[{section}] {key} is no key of config/sections.py"


def _links(page: Path) -> list[tuple[str, str]]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return [(m, page.name) for m in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+:", m)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_leads_somewhere(page):
    for link, _ in _links(page):
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        assert target.exists(), f"{page.name}: {link} leads nowhere"
        if anchor and target.suffix == ".md":
            slugs = {re.sub(r"[^a-z0-9 _-]", "", h.strip().lower()).replace(" ", "-")
                     for h in re.findall(r"^#+ (.*)$", target.read_text(), re.M)}
            assert anchor in slugs, f"{page.name}: {link}: no heading #{anchor}"


def test_the_readme_is_short_and_starts_with_the_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200
    first = "\n".join(lines[:12])
    assert "rank-citations --config configs/demo.toml" in first and "\npytest\n" in first


def test_the_template_parses_and_shows_the_defaults(tmp_path):
    text = job_template()
    data = tomllib.loads(text)
    (tmp_path / "citations.parquet").write_bytes(b"")
    cfg = parse_config(data, base=tmp_path)
    assert cfg.rank.alpha == 0.85 and cfg.output.dir == str(tmp_path / "out")
    assert "# algorithm = \"pagerank\"" in text and "rescaled_pagerank" in text
