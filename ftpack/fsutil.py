"""Files in and out: UTF-8 text read with one-line errors, artefacts written so that a crash never
leaves a half-written file behind, and deletion only of what ftpack can prove it made."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from ftpack.errors import FtpackError

PARTIAL = ".partial"  # suffix of the temporary siblings below; never shown to the user


# ------------------------------------------------------------------------------- reading
def _not_utf8(path: Path, data: bytes, exc: UnicodeDecodeError) -> FtpackError:
    line = data.count(b"\n", 0, exc.start) + 1
    return FtpackError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}): save the file as UTF-8")


def read_text(path: str | Path) -> str:
    """A UTF-8 text file (a leading byte-order mark is allowed); one-line errors naming the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FtpackError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise FtpackError(f"{path} is a folder, not a file") from None
    except OSError as exc:
        raise FtpackError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, data, exc) from None


def read_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line; an undecodable line is an error naming its number."""
    path = Path(path)
    with path.open("rb") as handle:
        for lineno, raw in enumerate(handle, 1):
            if lineno == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            try:
                yield lineno, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FtpackError(f"{path}:{lineno}: not UTF-8 text (byte 0x{raw[exc.start]:02x}): "
                                  "save the file as UTF-8") from None


def parse_json(text: str) -> Any:
    """json.loads, with too-deep nesting reported as a JSON error instead of a RecursionError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, 0) from None


def read_json(path: str | Path, fix: str) -> Any:
    """A JSON file ftpack wrote; damaged (truncated, not JSON) is one line naming the file and `fix`."""
    path = Path(path)
    try:
        return parse_json(read_text(path))
    except json.JSONDecodeError as exc:
        raise FtpackError(f"{path}: damaged, not valid JSON ({exc.msg} at line {exc.lineno}): {fix}") from None


# ------------------------------------------------------------------------------- writing
def _write_error(path: Path, exc: OSError) -> FtpackError:
    hint = "; free some disk space and rerun" if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else ""
    return FtpackError(f"cannot write {path}: {exc.strerror or exc}{hint}")


def _temp_sibling(path: Path) -> Path:
    # the pid in the name lets a later run tell a killed run's leftover from a running one's
    return Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=PARTIAL, dir=path.parent))


def clean_stale_partials(folder: Path) -> None:
    """Remove temporary siblings left by killed ftpack processes (their pid no longer runs)."""
    if not folder.is_dir():
        return
    for leftover in folder.glob(f".*.*{PARTIAL}"):
        try:
            pid = int(leftover.name[: -len(PARTIAL)].split(".")[-2])
            os.kill(pid, 0)
        except (ValueError, IndexError):
            continue  # not one of ours
        except ProcessLookupError:
            shutil.rmtree(leftover, ignore_errors=True)
        except PermissionError:
            continue  # another user's running process


def _make_parent(path: Path) -> None:
    for ancestor in [path.parent, *path.parent.parents]:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise FtpackError(f"cannot write {path}: {ancestor} is a file, not a folder")
            break
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_error(path, exc) from None


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of `path` (file or directory) and rename it over `path` on success.

    On an exception the temporary is removed and `path` is left as it was; a failed write names
    `path`, never the temporary.
    """
    path = Path(path)
    _make_parent(path)
    clean_stale_partials(path.parent)
    try:
        tmp = _temp_sibling(path)
    except OSError as exc:
        raise _write_error(path, exc) from None
    target = tmp / path.name
    try:
        try:
            yield target
            if path.is_dir() and not path.is_symlink():
                old = tmp / ".replaced"
                os.replace(path, old)
            os.replace(target, path)
        except OSError as exc:
            raise _write_error(path, exc) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_files_atomic(folder: str | Path, files: dict[str, str]) -> None:
    """Write a set of text files that belong together, all or none.

    They are written into one temporary folder beside `folder`; a folder holding nothing but these
    files (or no folder) is then swapped for it by rename. Next to other files, each is renamed into
    place only once all of them are written, so a full disk or a kill never leaves a mix of old and
    new files. Leftovers of a killed run are removed first.
    """
    folder = Path(folder)
    _make_parent(folder)
    if folder.exists() and not folder.is_dir():
        raise FtpackError(f"cannot write into {folder}: it is a file, not a folder")
    clean_stale_partials(folder.parent)
    clean_stale_partials(folder)
    try:
        tmp = _temp_sibling(folder)
    except OSError as exc:
        raise _write_error(folder, exc) from None
    try:
        staging = tmp / folder.name
        staging.mkdir()
        for name, text in files.items():
            try:
                (staging / name).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise _write_error(folder / name, exc) from None
        if folder.is_dir() and any(p.name not in files for p in folder.iterdir()):
            for name in files:  # leave the user's other files where they are
                os.replace(staging / name, folder / name)
        else:
            if folder.is_dir():
                os.replace(folder, tmp / ".replaced")
            os.replace(staging, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_writable(path: str | Path, what: str) -> None:
    """Refuse early a folder that cannot be made or written: under a file, or read-only."""
    path = Path(path)
    for folder in (path, *path.parents):
        if folder.exists():
            if not folder.is_dir():
                raise FtpackError(f"{what} {path}: {folder} is a file, not a folder")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise FtpackError(f"{what} {path}: {folder} is not writable")
            return


# ------------------------------------------------------------------------------- deleting
def protected(path: str | Path) -> str | None:
    """Why `path` must never be deleted (the working folder, one of its parents, HOME), or None."""
    resolved = Path(path).resolve()
    cwd = Path.cwd().resolve()
    if resolved == cwd:
        return "it is the working folder"
    if resolved in cwd.parents:
        return "it holds the working folder"
    home = Path.home().resolve()
    if resolved == home or resolved in home.parents:
        return "it is or holds your home folder"
    return None


def remove_tree(path: str | Path, marker: str, what: str) -> None:
    """Delete a folder ftpack made: it must hold `marker` and not be a protected folder."""
    path = Path(path)
    reason = protected(path)
    if reason is None and (path.is_symlink() or not path.is_dir() or not (path / marker).is_file()):
        reason = f"it is not {what} (no {marker} file)"
    if reason:
        raise FtpackError(f"ftpack will not delete {path}: {reason}; delete it yourself or choose another folder")
    shutil.rmtree(path)
