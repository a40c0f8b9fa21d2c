"""The README and docs/ stay true and self-contained: every relative link resolves to a file
(and heading) inside the repository, nothing links outside it, the README stays short, and
docs/api.md lists every frame type the stream socket declares."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from socialflow.lib import realtime
from socialflow.tests.processes import BASE_DIR

ROOT = BASE_DIR.resolve()
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 200
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# Upstream project documentation a page may link to; keep it empty unless one is needed.
ALLOWED_EXTERNAL_HOSTS: set[str] = set()

FENCE = re.compile(r"^\s{0,3}(```|~~~)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
HTML_LINK = re.compile(r"""(?:href|src)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
# What GitHub turns into a link without any markup.
BARE_URL = re.compile(r"\bhttps?://[^\s)>\]\"'`]+", re.IGNORECASE)
CODE_SPAN = re.compile(r"`[^`\n]*`")


def _without_fences(text: str) -> list[str]:
    """The lines outside fenced code blocks (fenced lines become empty)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            lines.append("")
        else:
            lines.append("" if fenced else line)
    return lines


def _prose(text: str) -> str:
    """The text without code: links inside code are not links."""
    return CODE_SPAN.sub("", "\n".join(_without_fences(text)))


def heading_anchors(text: str) -> set[str]:
    """GitHub's anchors for the headings: lower case, punctuation dropped, spaces to
    hyphens, `-1`, `-2`... for repeats."""
    anchors: set[str] = set()
    for line in _without_fences(text):
        match = HEADING.match(line)
        if not match:
            continue
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", match.group(2)).replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
        anchor, n = slug, 0
        while anchor in anchors:
            n += 1
            anchor = f"{slug}-{n}"
        anchors.add(anchor)
    return anchors


def link_targets(text: str) -> list[str]:
    prose = _prose(text)
    return [
        *INLINE_LINK.findall(prose),
        *REFERENCE_DEFINITION.findall(prose),
        *HTML_LINK.findall(prose),
        *BARE_URL.findall(prose),
    ]


def link_problems(text: str, source: Path) -> list[str]:
    """What is wrong with the links of `text`, a Markdown file at `source` in the repository."""
    problems = []
    for target in dict.fromkeys(link_targets(text)):
        parts = urlsplit(target)
        if parts.scheme in ("http", "https"):
            host = parts.hostname or ""
            if host not in LOCAL_HOSTS and host not in ALLOWED_EXTERNAL_HOSTS:
                problems.append(f"{target}: links outside the repository")
            continue
        if parts.scheme or parts.netloc:
            problems.append(f"{target}: only relative links and the local server are allowed")
            continue
        path, anchor = unquote(parts.path), parts.fragment
        if path.startswith("/"):
            problems.append(f"{target}: an absolute path; link relative to this file")
            continue
        resolved = (source.parent / path).resolve() if path else source
        if not resolved.is_relative_to(ROOT):
            problems.append(f"{target}: points outside the repository")
            continue
        if not resolved.exists():
            problems.append(f"{target}: no such file in the repository")
            continue
        if anchor and resolved.suffix == ".md" and anchor not in heading_anchors(resolved.read_text()):
            problems.append(f"{target}: no heading #{anchor} in {resolved.relative_to(ROOT)}")
    return problems


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve_inside_the_repository(doc):
    assert link_problems(doc.read_text(), doc) == []


@pytest.mark.parametrize(
    "bad",
    [
        "[style](../shared/STYLE.md)",
        "[up](../../etc/passwd)",
        "[abs](/work/shared/API.md)",
        "[file](file:///etc/passwd)",
        "[web](https://example.com/)",
        "see https://example.com/page",
        "[ref]: https://example.com/",
        '<a href="https://example.com/">x</a>',
        "[gone](docs/no-such-page.md)",
        "[anchor](docs/api.md#no-such-heading)",
        "[here](#no-such-heading)",
    ],
)
def test_the_link_check_catches(bad):
    assert link_problems(bad, ROOT / "README.md") != []


def test_the_link_check_allows_the_repository_and_the_local_server():
    good = (
        "[api](docs/api.md#the-stream-socket) [make](Makefile) [top](#two-commands)\n"
        "[site](http://127.0.0.1:8000/admin/) `[not a link](../shared/x.md)`\n"
        "```\n[not a link](../shared/x.md)\n```\n"
    )
    assert link_problems(good, ROOT / "README.md") == []


def test_heading_anchors_follow_github():
    text = "# The API\n## Go-live hooks: `bench/hooks.py`\n## Frames\n## Frames\n```\n# not a heading\n```\n"
    assert heading_anchors(text) == {"the-api", "go-live-hooks-benchhookspy", "frames", "frames-1"}


def test_readme_is_short_and_links_every_doc():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= README_MAX_LINES
    linked = {(ROOT / urlsplit(t).path).resolve() for t in link_targets(readme) if urlsplit(t).path}
    assert sorted(str(p.relative_to(ROOT)) for p in DOCS[1:] if p not in linked) == []


def _table_types(api: str, heading: str) -> set[str]:
    """The frame types in the first column of the table under `### {heading}`."""
    section = api.split(f"### {heading}\n", 1)[1].split("\n#", 1)[0]
    return {
        match.group(1)
        for line in section.splitlines()
        if (match := re.match(r"\|\s*`([a-z_.]+)`\s*\|", line))
    }


def test_api_docs_list_every_frame_type_and_close_code():
    api = (ROOT / "docs/api.md").read_text()
    assert _table_types(api, "Client -> server") == realtime.CLIENT_TYPES
    assert _table_types(api, "Server -> client") == realtime.SERVER_TYPES
    for code in (realtime.CLOSE_NOT_FOUND, realtime.CLOSE_TRY_AGAIN):
        assert f"| `{code}` |" in api
