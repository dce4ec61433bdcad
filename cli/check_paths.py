"""Which files ``gradcalc check`` reads: paths, folders and globs expanded, and ``--shard``."""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path
from typing import Any

import click

SPEC_SUFFIXES = (".yaml", ".yml")


def expand_paths(paths: tuple[str, ...]) -> tuple[list[str], list[tuple[str, str]]]:
    """Files to check and the arguments that gave none, each with its error line.

    Folders are searched recursively for *.yaml and *.yml, leaving out names that start
    with "." (.git, .github/workflows/*.yml); globs are expanded; each group is sorted.  A
    file named twice, in any spelling, is kept once, under its first spelling."""
    files: list[str] = []
    empty: list[tuple[str, str]] = []
    for path in paths:
        found: list[str]
        if os.path.isdir(path):
            found = _spec_files_under(path)
            if not found:
                empty.append((path, f"{path}: folder has no .yaml or .yml files"))
            files += found
            continue
        if os.path.exists(path):
            found = [path]
        elif glob.has_magic(path):
            found = []
            for match in sorted(glob.glob(path, recursive=True)):
                found += _spec_files_under(match) if os.path.isdir(match) else [match]
        else:
            found = []
        if not found:
            empty.append((path, f"{path}: no such file, folder or match"))
        files += found
    seen: set[str] = set()
    unique = []
    for file in files:
        key = os.path.realpath(file)
        if key not in seen:
            seen.add(key)
            unique.append(file)
    return unique, empty


def _spec_files_under(folder: str) -> list[str]:
    """The *.yaml and *.yml files below ``folder``, sorted, hidden files and folders left out
    (symbolic links to folders are not followed)."""
    found = []
    for parent, folders, names in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]
        found += [
            path
            for name in names
            if not name.startswith(".") and name.lower().endswith(SPEC_SUFFIXES)
            for path in [str(Path(parent) / name)]  # "./a.yaml" and "a//b.yaml" read as given
            if os.path.isfile(path)
        ]
    return sorted(found)


class ShardType(click.ParamType):
    """``--shard i/n``: the i-th of n parts, as (i, n)."""

    name = "i/n"

    def convert(self, value: Any, param, ctx) -> tuple[int, int] | None:
        if value is None or isinstance(value, tuple):
            return value
        # ASCII digits only (int() would also take "１", "1_0" and " 1"), as every count is read.
        match = re.fullmatch(r"([0-9]{1,9})/([0-9]{1,9})", str(value).strip())
        if match is None:
            self.fail(
                f"{value!r} is not i/n (for example 1/4; ASCII digits, at most 9 each)", param, ctx
            )
        if any(part[0] == "0" and len(part) > 1 for part in match.groups()):
            self.fail(f"{value!r}: write i/n without leading zeros (for example 1/4)", param, ctx)
        index, count = int(match[1]), int(match[2])
        if count < 1 or not 1 <= index <= count:
            self.fail(f"{value!r}: need 1 ≤ i ≤ n (for example 1/4 … 4/4)", param, ctx)
        return index, count


def shard_key(path: str) -> str:
    """The path a file is sorted by for sharding: absolute, normalized, "/"-separated and in
    Unicode NFC, so that the split does not depend on how or in which order files were named."""
    import unicodedata

    return unicodedata.normalize("NFC", os.path.abspath(path).replace(os.sep, "/"))


def take_shard(files: list[str], shard: tuple[int, int] | None) -> list[str]:
    """Shard i of n: every n-th file from the i-th, of the files sorted by code point of
    :func:`shard_key`; the same split on every machine and for any argument order.  The files
    keep their order in ``files``."""
    if shard is None:
        return files
    index, count = shard
    chosen = set(sorted(files, key=shard_key)[index - 1 :: count])
    return [file for file in files if file in chosen]
