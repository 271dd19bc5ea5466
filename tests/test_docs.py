"""The documentation a user gets: README.md (which Dify shows as the plugin's page and which ships in
the .difypkg), readme/README_<lang>.md, and CHANGELOG.md.

- Every relative link of a packaged README points to a file in the package; every link to this
  project's repository points to a file that exists in the repository; every ``#anchor`` points to a
  heading of the same file (GitHub's heading ids).
- No words that only make sense inside this repository (internal notes, issue numbers, dev folders).
- The README is in the order a user needs it: install, authorize, examples first; "Develop" last.
- What the README states as a fixed list agrees with the code: every parameter and provider setting is
  named, every status word and stream format is the code's, the ``text_path`` table's expressions read
  the example data they stand next to.
- The Chinese README follows the English one section by section.
- The manifest's version is the changelog's newest entry; ``make bench`` runs what the docs say.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml
from httpx_sse import ServerSentEvent

from devkit.package import collect_files
from utils.formats import FORMATS
from utils.formats.json_path import JSONPathFormat, compile_path
from utils.outcome import RunStatus

ROOT = Path(__file__).resolve().parent.parent
PACKAGED = set(collect_files(ROOT))
READMES = ["README.md", *sorted(f"readme/{p.name}" for p in (ROOT / "readme").glob("README_*.md"))]
MANIFEST = yaml.safe_load((ROOT / "manifest.yaml").read_text(encoding="utf-8"))
REPO = MANIFEST["repo"].rstrip("/")

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|<(https?://[^>]+)>|!\[[^\]]*\]\(([^)\s]+)\)")
# Words that mean something only to this repository's developers.
INTERNAL = [
    (re.compile(r"seed[- ]?(document|doc|\d)", re.I), "the project's seed documents"),
    (re.compile(r"\.\./shared|shared/research"), "a folder outside the repository"),
    (re.compile(r"\bworking/|readme-[a-z-]+\.md|round-contracts|design-notes"), "the team's working notes"),
    (re.compile(r"\bissues? #?\d+|\b(fault|point) \d+(\.\d+)?\b", re.I), "an issue number"),
    (re.compile(r"\bh-(docs|files|perf|run|params|policy|formats|textpath|transport|decoder|engine)\b"), "a branch"),
    (re.compile(r"\bTODO\b|\bFIXME\b|\bthe lead\b"), "a note to the team"),
    (re.compile(r"\bdevkit\b|\btests?/[\w./]*|\.venv\b|\bgraphon\b"), "a development folder or tool"),
]


def text(rel: str) -> str:
    return (ROOT / rel).read_text(encoding="utf-8")


def without_code_blocks(markdown: str) -> str:
    return re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)


def links(markdown: str) -> list[str]:
    return [next(g for g in m.groups() if g) for m in LINK.finditer(without_code_blocks(markdown))]


def headings(markdown: str, level: int | None = None) -> list[str]:
    found = re.findall(r"^(#{1,6}) (.+?)\s*$", without_code_blocks(markdown), flags=re.M)
    return [title for hashes, title in found if level is None or len(hashes) == level]


def github_id(title: str) -> str:
    """GitHub's id for a heading: lower case, markup and punctuation other than - and _ removed,
    spaces to hyphens (each space, so "a / b" gives "a--b")."""
    plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title).replace("`", "")
    return re.sub(r"[^\w\- ]", "", plain.lower()).replace(" ", "-")


def first_column_words(section: str) -> set[str]:
    """The backticked words that start the body rows of the tables in ``section`` (not the header)."""
    words, in_body = set(), False
    for line in section.splitlines():
        if re.match(r"^\|[-| ]+\|$", line):
            in_body = True
        elif not line.startswith("|"):
            in_body = False
        elif in_body and (match := re.match(r"^\| `([a-z_]+)` \|", line)):
            words.add(match.group(1))
    return words


def tools() -> dict[str, dict]:
    provider = yaml.safe_load(text(MANIFEST["plugins"]["tools"][0]))
    return {t["identity"]["name"]: t for t in (yaml.safe_load(text(rel)) for rel in provider["tools"])}


def provider_settings() -> list[str]:
    return list(yaml.safe_load(text(MANIFEST["plugins"]["tools"][0]))["credentials_for_provider"])


# -- links and words ---------------------------------------------------------------------------
@pytest.mark.parametrize("rel", READMES)
def test_the_readmes_are_packaged(rel: str) -> None:
    assert rel in PACKAGED


@pytest.mark.parametrize("rel", READMES)
def test_relative_links_point_into_the_package(rel: str) -> None:
    base = Path(rel).parent
    missing = []
    for target in links(text(rel)):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (base / unquote(target.split("#", 1)[0])).as_posix()
        path = re.sub(r"(^|/)\./", r"\1", path)
        while "/../" in f"/{path}":
            path = re.sub(r"[^/]+/\.\./", "", path, count=1)
        if path not in PACKAGED and not any(p.startswith(path.rstrip("/") + "/") for p in PACKAGED):
            missing.append(target)
    assert not missing, f"{rel} links to files the package does not hold: {missing} (link them by {REPO}/blob/main/...)"


@pytest.mark.parametrize("rel", READMES)
def test_repository_links_point_to_files_that_exist(rel: str) -> None:
    missing = []
    for target in links(text(rel)):
        match = re.fullmatch(re.escape(REPO) + r"/(?:blob|tree)/main/([^#?]+)(?:#.*)?", target)
        if match and not (ROOT / unquote(match.group(1))).exists():
            missing.append(target)
    assert not missing, f"{rel} links to repository files that do not exist: {missing}"


@pytest.mark.parametrize("rel", READMES)
def test_anchors_point_to_headings(rel: str) -> None:
    markdown = text(rel)
    ids = {github_id(h) for h in headings(markdown)}
    broken = [t for t in links(markdown) if t.startswith("#") and unquote(t[1:]) not in ids]
    assert not broken, f"{rel}: anchors without a heading: {broken}"


def test_repository_anchors_point_to_headings() -> None:
    """Links such as .../docs/development.md#benchmarks name a heading of that file."""
    broken = []
    for rel in READMES:
        for target in links(text(rel)):
            match = re.fullmatch(re.escape(REPO) + r"/blob/main/([^#?]+\.md)#(.+)", target)
            if match and (ROOT / match.group(1)).exists():
                if match.group(2) not in {github_id(h) for h in headings(text(match.group(1)))}:
                    broken.append(target)
    assert not broken


@pytest.mark.parametrize("rel", READMES)
def test_no_words_from_the_repository_internals(rel: str) -> None:
    found = []
    for number, line in enumerate(text(rel).splitlines(), 1):
        for pattern, what in INTERNAL:
            if match := pattern.search(line):
                found.append(f"line {number}: {match.group(0)!r} ({what})")
    assert not found, f"{rel} speaks of the repository's internals: {found}"


def test_the_internal_words_check_catches_what_it_names() -> None:
    """The patterns above match the words the old README used (so the check above can fail)."""
    for sample in ("the shape of seed document 2", "see ../shared/research/sse_anchors.md",
                   "The full record is in working/readme-performance.md", "issue 12 says",
                   "TODO: write this", "devkit/bench", "tests/test_install.py"):
        assert any(p.search(sample) for p, _ in INTERNAL), sample


# -- order and content -------------------------------------------------------------------------
def test_readme_is_in_the_order_a_user_needs() -> None:
    sections = headings(text("README.md"), 2)
    assert sections[:3] == ["Install", "Authorize the provider (once)", "Examples"], sections[:3]
    assert sections[-1] == "Develop"
    develop = text("README.md").split("\n## Develop\n", 1)[1]
    assert "make demo" in develop and "make test" in develop and "docs/development.md" in develop
    assert "make demo" not in text("README.md").split("\n## Develop\n", 1)[0]


def test_readme_says_the_provider_must_be_authorized_once() -> None:
    """Dify needs a saved credential record for a provider that declares settings, even all empty
    (api/core/tools/plugin_tool/provider.py need_credentials; ToolManager.get_tool_runtime)."""
    readme = text("README.md")
    assert provider_settings(), "the provider declares settings, so Dify asks for an authorization"
    assert "authorized once" in readme and "No credential is configured for tool provider" in readme
    assert "tools work without" not in readme


@pytest.mark.parametrize("rel", READMES)
def test_readme_names_every_parameter_and_provider_setting(rel: str) -> None:
    """Each README, the translations too (the developer guide promises a failing test for them)."""
    readme = text(rel)
    missing = [f"{name}.{p['name']}" for name, tool in tools().items() for p in tool.get("parameters") or []
               if f"`{p['name']}`" not in readme]
    missing += [name for name in provider_settings() if f"`{name}`" not in readme]
    assert not missing, f"{rel} does not name {missing}"


def test_readme_status_table_is_the_codes() -> None:
    section = text("README.md").split("## Complete runs and statuses", 1)[1].split("\n## ", 1)[0]
    assert first_column_words(section) == {s.value for s in RunStatus}


def test_readme_format_table_is_the_codes() -> None:
    section = text("README.md").split("\n## Stream formats", 1)[1].split("\n## ", 1)[0]
    assert first_column_words(section) == set(FORMATS)
    options = next(p for p in tools()["sse_request"]["parameters"] if p["name"] == "stream_format")["options"]
    assert {o["value"] for o in options} == set(FORMATS) | {"auto"}


def text_path_rows() -> list[tuple[str, str]]:
    section = text("README.md").split("## Any JSON stream: `text_path`", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if line.startswith("| ") and (path := re.search(r"`text_path` = `([^`]+)`", line)):
            rows.append((line.split(" | ", 1)[0], path.group(1)))
    return rows


def test_the_text_path_table_has_rows() -> None:
    assert len(text_path_rows()) >= 10


@pytest.mark.parametrize(("sends", "path"), text_path_rows())
def test_each_text_path_in_the_table_reads_its_example(sends: str, path: str) -> None:
    compile_path(path, "text_path")
    example = re.search(r"`(\{[^`]*\})`", sends)
    if example is None or "…" in example.group(1):
        return  # no complete example on that row: the expression compiles, that is all we can say
    fmt = JSONPathFormat(path)
    _, got = fmt.feed(ServerSentEvent(data=json.dumps(json.loads(example.group(1)))))
    assert got in ("Hi", "H") and fmt.invalid_events == 0, (path, example.group(1), got)


# -- translations ------------------------------------------------------------------------------
@pytest.mark.parametrize("rel", READMES[1:])
def test_translations_follow_the_readme_section_by_section(rel: str) -> None:
    english, translated = text("README.md"), text(rel)
    assert len(headings(translated, 2)) == len(headings(english, 2)), "one ## section per section of README.md"
    assert len(headings(translated, 3)) == len(headings(english, 3)), "one ### section per section of README.md"
    for block in ("```bash", "```sh", "```json", "```jinja"):
        assert translated.count(block) == english.count(block), f"{block} blocks differ"


# -- version and commands ----------------------------------------------------------------------
def changelog_versions() -> list[tuple[str, str]]:
    return re.findall(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$", text("CHANGELOG.md"), flags=re.M)


def test_manifest_version_is_the_changelogs_newest() -> None:
    versions = changelog_versions()
    assert versions, "CHANGELOG.md has no '## [x.y.z] - YYYY-MM-DD' entry"
    assert versions[0][0] == str(MANIFEST["version"])


def test_changelog_versions_go_down_and_each_has_its_link() -> None:
    versions = [tuple(int(n) for n in v.split(".")) for v, _ in changelog_versions()]
    assert versions == sorted(versions, reverse=True) and len(set(versions)) == len(versions)
    changelog = text("CHANGELOG.md")
    for version, _ in changelog_versions():
        assert re.search(rf"^\[{re.escape(version)}\]: https://", changelog, flags=re.M), version


def test_make_bench_runs_what_the_docs_say() -> None:
    runs = re.search(r"^RUNS \?= (\d+)$", text("Makefile"), flags=re.M)
    assert runs and re.search(r"^bench:.*\n\t\$\(PY\) -m devkit\.bench --runs \$\(RUNS\)$", text("Makefile"), flags=re.M)
    guide = text("docs/development.md")
    assert f"python -m devkit.bench --runs {runs.group(1)}" in guide
    assert f"Medians of {runs.group(1)} runs" in guide


def test_make_help_lists_every_target() -> None:
    makefile = text("Makefile")
    targets = re.findall(r"^([a-z]+):", makefile, flags=re.M)
    phony = re.search(r"^\.PHONY: (.+)$", makefile, flags=re.M).group(1).split()
    assert set(targets) == set(phony)
    undocumented = [t for t in targets if not re.search(rf"^{t}:.*## \S", makefile, flags=re.M)]
    assert not undocumented, f"targets without a '## what it does' for make help: {undocumented}"


def test_docs_and_changelog_stay_out_of_the_package() -> None:
    assert not [p for p in PACKAGED if p.startswith(("docs/", "examples/")) or p == "CHANGELOG.md"]


def test_readme_lists_the_dependencies_the_daemon_installs() -> None:
    install = text("README.md").split("\n## Install\n", 1)[1].split("\n## ", 1)[0]
    named = re.search(r"installs its \w+ dependencies \(([^)]*)\)", install)
    assert named, "the Install section names the dependencies the daemon installs"
    requirements = {re.split(r"[<>=!~ ;\[]", line, maxsplit=1)[0].strip().lower()
                    for line in text("requirements.txt").splitlines() if line.split("#", 1)[0].strip()}
    assert set(re.findall(r"`([\w.-]+)`", named.group(1))) == requirements
    words = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven"}
    assert f"installs its {words.get(len(requirements), len(requirements))} dependencies" in install


@pytest.mark.parametrize("rel", ["CHANGELOG.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))])
def test_developer_docs_link_to_files_and_headings_that_exist(rel: str) -> None:
    """The developer guide, the design notes and the changelog (not packaged): their relative links
    name files of the repository, and their anchors headings of the file linked."""
    broken = []
    for target in links(text(rel)):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (ROOT / rel).parent / unquote(path) if path else ROOT / rel
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md" and anchor not in {github_id(h) for h in headings(linked.read_text(encoding="utf-8"))}:
            broken.append(target)
    assert not broken, f"{rel}: broken links {broken}"
