"""Integrity of a rules folder: ``MANIFEST.sha256`` records the sha256 of every rules file.

A truncated or half-copied YAML file can still be valid YAML that silently drops rules, and the
strict schemas cannot see that. The manifest can: it lists every ``*.yaml``/``*.yml`` file under
the rules folder (``sla/`` included) with its hash, and a folder that has one loads only if every
file matches it: no listed file missing, no unlisted rules file, no hash mismatch.
``sevtriage rules-lock`` rewrites it after an analyst edits the files.

The format is ``sha256sum``'s (one ``<64 hex digits>  <path>`` line per file, paths relative to the
folder with ``/``, sorted), so ``cd rules && sha256sum -c MANIFEST.sha256`` checks it by hand too.

A folder without a manifest (a custom or test copy) is loaded with the schema checks only; the
bundled ``rules/`` ships with one and a test keeps it so. The manifest guards against accidents
(truncated deploys, partial copies, stray edits), not against someone who can also rewrite it.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sevtriage.errors import ConfigProblem

MANIFEST_NAME = "MANIFEST.sha256"
RULES_SUFFIXES: tuple[str, ...] = (".yaml", ".yml")
RELOCK = "run `sevtriage rules-lock` after editing"
_LINE_RE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


@dataclass(frozen=True)
class ManifestProblem(ConfigProblem):
    """A file does not match the manifest (as opposed to a schema problem inside a file)."""


def manifest_path(rules_dir: Path) -> Path:
    return rules_dir / MANIFEST_NAME


def rules_files(rules_dir: Path) -> list[str]:
    """Every rules file under ``rules_dir`` as a sorted relative POSIX path."""
    found = (
        path.relative_to(rules_dir).as_posix()
        for path in rules_dir.rglob("*")
        if path.suffix.lower() in RULES_SUFFIXES and path.is_file()
    )
    return sorted(found)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_text(rules_dir: Path) -> str:
    """The manifest ``rules_dir`` should have now (what ``rules-lock`` writes)."""
    return "".join(f"{sha256_of(rules_dir / name)}  {name}\n" for name in rules_files(rules_dir))


def write_manifest(rules_dir: Path) -> list[str]:
    """(Re)write ``rules_dir``'s manifest atomically; returns the files it lists."""
    text = manifest_text(rules_dir)
    fd, tmp = tempfile.mkstemp(dir=rules_dir, prefix=f".{MANIFEST_NAME}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, manifest_path(rules_dir))
    finally:
        Path(tmp).unlink(missing_ok=True)
    return [line.split("  ", 1)[1] for line in text.splitlines()]


def _safe_relative(name: str) -> bool:
    pure = PurePosixPath(name)
    return not pure.is_absolute() and ".." not in pure.parts and "\\" not in name


def _read_manifest(path: Path, problems: list[ConfigProblem]) -> dict[str, str]:
    """``{relative path: sha256}``; every malformed line is a problem naming its line number."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(ManifestProblem(str(path), "", f"cannot be read: {exc}"))
        return {}
    listed: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        match = _LINE_RE.match(line)
        where = f"line {number}"
        if match is None:
            problems.append(
                ManifestProblem(
                    str(path), where, f"expected '<64 lower-case hex digits>  <path>'; {RELOCK}"
                )
            )
        elif not _safe_relative(match.group(2)):
            problems.append(
                ManifestProblem(str(path), where, f"{match.group(2)!r} is not inside the folder")
            )
        elif match.group(2) in listed:
            problems.append(ManifestProblem(str(path), where, f"{match.group(2)!r} listed twice"))
        else:
            listed[match.group(2)] = match.group(1)
    return listed


def verify_rules_dir(rules_dir: Path) -> list[ConfigProblem]:
    """Every way ``rules_dir`` differs from its manifest (``[]`` when it matches or has none).

    The loaders (``config.load_rules``, ``sla.SlaPolicies.load``) add these to their own problems,
    so one ``ConfigError`` reports both a truncated file and what its schema then misses.
    """
    path = manifest_path(rules_dir)
    if not path.exists():
        return []
    problems: list[ConfigProblem] = []
    listed = _read_manifest(path, problems)
    for name, expected in listed.items():
        file = rules_dir / name
        if not file.is_file():
            problems.append(
                ManifestProblem(
                    str(file),
                    "",
                    f"listed in {MANIFEST_NAME} but missing; restore it, or {RELOCK}",
                )
            )
            continue
        try:
            actual = sha256_of(file)
        except OSError as exc:
            problems.append(ManifestProblem(str(file), "", f"cannot be read: {exc}"))
            continue
        if actual != expected:
            problems.append(
                ManifestProblem(
                    str(file),
                    "",
                    f"sha256 {actual[:12]}… does not match {MANIFEST_NAME} ({expected[:12]}…): "
                    f"the file was changed or truncated; {RELOCK}",
                )
            )
    for name in rules_files(rules_dir):
        if name not in listed:
            problems.append(
                ManifestProblem(
                    str(rules_dir / name), "", f"not listed in {MANIFEST_NAME}; {RELOCK}"
                )
            )
    return problems
