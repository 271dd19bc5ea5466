"""``make package``: checks the plugin as Dify would, then writes ``dist/<name>-<version>.difypkg``.

The package is what ``dify plugin package`` writes: a zip of the plugin's files, sorted by path,
with ``.difyignore`` applied with gitignore semantics (``.gitignore`` when there is no
``.difyignore``, as the daemon does), and an uncompressed total of at most 50 MiB (the daemon's
``MAX_PLUGIN_PACKAGE_SIZE``). Nothing is written when a check fails; each problem is one line.

    python -m devkit.package [--root DIR] [--out DIR] [--check]
"""

from __future__ import annotations

import argparse
import os
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pathspec
import yaml

from devkit.manifest_check import check_plugin, referenced_files

ROOT = Path(__file__).resolve().parent.parent
MAX_UNCOMPRESSED = 50 * 1024 * 1024  # bytes; the daemon's default MAX_PLUGIN_PACKAGE_SIZE
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same tree gives the same bytes


class PackageError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Package:
    path: Path
    files: list[str]
    uncompressed: int

    @property
    def compressed(self) -> int:
        return self.path.stat().st_size


def ignore_spec(root: Path) -> pathspec.PathSpec:
    """The daemon reads ``.difyignore``, or ``.gitignore`` when there is none; only one of them."""
    for name in (".difyignore", ".gitignore"):
        path = root / name
        if path.is_file():
            return pathspec.GitIgnoreSpec.from_lines(path.read_text(encoding="utf-8").splitlines())
    return pathspec.GitIgnoreSpec.from_lines([])


def collect_files(root: Path, spec: pathspec.PathSpec | None = None, exclude: set[Path] | None = None) -> list[str]:
    """Relative POSIX paths of the files to package, sorted. An ignored directory is not entered,
    so (as in git) nothing below it can be re-included."""
    root = Path(root).resolve()
    spec = spec if spec is not None else ignore_spec(root)
    exclude = {p.resolve() for p in (exclude or set())}
    files: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        kept = []
        for d in sorted(dirnames):
            rel = (rel_dir / d).as_posix()
            if not spec.match_file(rel + "/") and not (Path(dirpath) / d).is_symlink():
                kept.append(d)
        dirnames[:] = kept
        for f in filenames:
            full = Path(dirpath) / f
            rel = (rel_dir / f).as_posix()
            if spec.match_file(rel) or full.resolve() in exclude or not full.is_file():
                continue
            files.append(rel)
    return sorted(files)


def size_problems(root: Path, files: list[str], limit: int = MAX_UNCOMPRESSED) -> list[str]:
    sizes = [(f, (root / f).stat().st_size) for f in files]
    total = sum(s for _, s in sizes)
    if total <= limit:
        return []
    largest = sorted(sizes, key=lambda item: -item[1])[:5]
    listing = "; ".join(f"{i}. {f} ({s} bytes)" for i, (f, s) in enumerate(largest, 1))
    return [f"package too large: {total} bytes uncompressed, the daemon accepts at most {limit}; "
            f"largest files: {listing}"]


def content_problems(root: Path, files: list[str]) -> list[str]:
    """What .difyignore must not drop, and what must never ship."""
    packaged = set(files)
    problems = [f"{rel}: needed at runtime but excluded by .difyignore"
                for rel in referenced_files(root) if (root / rel).is_file() and rel not in packaged]
    if not any(f.startswith("_assets/") for f in packaged):
        problems.append("_assets/: no file would be packaged (the SDK scans it at start)")
    for rel in files:
        top = rel.split("/", 1)[0]
        if top in {".venv", "venv", ".git", "__pycache__"} or rel == ".env" or rel.endswith(".difypkg"):
            problems.append(f"{rel}: must not be packaged; add it to .difyignore")
    return problems


def package_name(root: Path) -> str:
    manifest = yaml.safe_load((root / "manifest.yaml").read_text(encoding="utf-8"))
    return f"{manifest['name']}-{manifest['version']}.difypkg"


def build(root: Path = ROOT, out_dir: Path | None = None, *, limit: int = MAX_UNCOMPRESSED,
          python: str = sys.executable) -> Package:
    """Validates, then writes the package. Raises PackageError with every problem found."""
    root = Path(root).resolve()
    out_dir = Path(out_dir).resolve() if out_dir is not None else root / "dist"
    problems = check_plugin(root, python=python)
    if problems:
        raise PackageError(problems)
    target = out_dir / package_name(root)
    files = collect_files(root, exclude={target})
    problems = content_problems(root, files) + size_problems(root, files, limit)
    if problems:
        raise PackageError(problems)
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    total = 0
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for rel in files:
            data = (root / rel).read_bytes()
            total += len(data)
            info = zipfile.ZipInfo(rel, date_time=ZIP_DATE)
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    partial.replace(target)
    return Package(target, files, total)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.package", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="plugin folder (default: this repository)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <root>/dist)")
    parser.add_argument("--check", action="store_true", help="validate and list the files, write nothing")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        if args.check:
            problems = check_plugin(root)
            files = collect_files(root)
            problems += content_problems(root, files) + size_problems(root, files)
            if problems:
                raise PackageError(problems)
            for rel in files:
                print(rel)
            print(f"ok: {len(files)} files would be packaged", file=sys.stderr)
            return 0
        pkg = build(root, args.out)
    except PackageError as exc:
        for line in exc.problems:
            print(f"error: {line}", file=sys.stderr)
        print(f"package not written: {len(exc.problems)} problem(s)", file=sys.stderr)
        return 1
    shown = pkg.path.relative_to(Path.cwd()) if pkg.path.is_relative_to(Path.cwd()) else pkg.path
    print(f"wrote {shown}: {len(pkg.files)} files, {pkg.uncompressed / 1024:.1f} KiB uncompressed, "
          f"{pkg.compressed / 1024:.1f} KiB zipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
