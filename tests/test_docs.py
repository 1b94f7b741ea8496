"""The documentation holds together: every relative link of README.md and docs/*.md
points to a file that exists (and, with a #fragment into a Markdown file, to one of
its headings), and the README stays short enough for a newcomer."""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "data" / "README.md"]
#: [text](target) outside code; images too.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~)")


def _prose(path: Path) -> str:
    """The file without fenced code blocks and inline code spans."""
    lines, inside = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line.strip()):
            inside = not inside
            continue
        if not inside:
            lines.append(re.sub(r"`[^`]*`", "", line))
    return "\n".join(lines)


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to '-'."""
    text = unicodedata.normalize("NFC", heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    out = set()
    inside = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line.strip()):
            inside = not inside
            continue
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m and not inside:
            out.add(_anchor(m.group(1)))
    return out


def _links():
    for doc in DOCS:
        for target in LINK.findall(_prose(doc)):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            yield doc, target


def test_the_docs_exist():
    for name in ("model", "calibration", "quotas", "targets", "development"):
        assert (ROOT / "docs" / f"{name}.md").is_file(), name


@pytest.mark.parametrize("doc,target", list(_links()), ids=lambda x: str(x).replace(str(ROOT), ""))
def test_relative_links_point_to_existing_files(doc, target):
    path, _, fragment = target.partition("#")
    resolved = (doc.parent / path).resolve() if path else doc
    assert resolved.exists(), f"{doc.relative_to(ROOT)}: link to {target} — no such file"
    if fragment and resolved.suffix == ".md":
        assert fragment in _anchors(resolved), f"{doc.relative_to(ROOT)}: no heading for #{fragment} in {path or doc.name}"


def test_readme_links_into_every_doc():
    links = {target.partition("#")[0] for doc, target in _links() if doc.name == "README.md" and doc.parent == ROOT}
    for name in ("model", "calibration", "quotas", "targets", "development"):
        assert f"docs/{name}.md" in links, name


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; keep it ≤ 200 and move detail into docs/"


def test_no_link_to_files_the_project_does_not_have():
    """The contract MODEL.md lives outside the repository: the docs name it but link to docs/model.md."""
    for doc, target in _links():
        assert not target.partition("#")[0].endswith("MODEL.md"), f"{doc.relative_to(ROOT)} links to {target}"
