"""File writes that are safe against crashes and against a second writer.

* :func:`atomic_path` / :func:`atomic_write_bytes` / :func:`atomic_write_text`: a crash never
  leaves a half-written artifact under the final name, and the file gets the mode the user's
  umask gives (0644 under umask 022), like any file a program creates.
* :func:`exclusive_lock`: one writer at a time in a directory (a run directory), with a clear
  error naming the process that holds it; the start of a writer removes the temporary files
  that a killed writer left (:func:`remove_stale_temps`).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "exclusive_lock", "remove_stale_temps",
           "LOCK_FILE"]

LOCK_FILE = ".lock"
# Temporary files a killed writer leaves: atomic_path's ".NAME.XXXXXXXX.tmp" (8 random
# characters; mkstemp's, used before, are of the same shape, so older versions' files are
# recognised too), and ".tmpXXXXXX", the temporary file safetensors (Rust's tempfile) writes a
# model or checkpoint into before renaming it to atomic_path's name (as large as the checkpoint).
_TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp\Z|\.tmp[A-Za-z0-9]{6}\Z")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success fsync and rename it into place.

    On an exception the temporary file is removed and ``path`` is left untouched. The file gets
    the mode ``open()`` would give ``path``: 0666 filtered by the umask (0644 under umask 022),
    whatever the writer did to the temporary file (``tempfile.mkstemp`` and safetensors' writer
    make it 0600); a writer that made it executable keeps x wherever r is allowed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path, mode = _create_temp(path)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            if stat.S_IMODE(os.fstat(fh.fileno()).st_mode) & 0o111:
                mode |= (mode & 0o444) >> 2
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _create_temp(path: Path) -> tuple[Path, int]:
    """A new empty temporary file next to ``path``, and the mode ``open()`` gave it."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            # O_CREAT applies the umask (and a default ACL) itself, so the mode it gives is the
            # one to keep: no need to read the umask (os.umask can only be read by setting it,
            # which races with other threads creating files).
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except FileExistsError:
            continue
        try:
            mode = stat.S_IMODE(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
        return tmp, mode
    raise FileExistsError(errno.EEXIST, f"no free temporary name next to {path}")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_path`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def remove_stale_temps(directory: str | os.PathLike, subdirs: Iterable[str] = ()) -> list[Path]:
    """Remove the temporary files of :func:`atomic_path` (and of the safetensors writer it
    wraps) in ``directory`` (not below it) and anywhere below its ``subdirs``; returns them.
    Only safe while holding the directory's :func:`exclusive_lock`: then no live writer is
    using them (a writer killed with SIGKILL had no chance to remove its own)."""
    directory = Path(directory)
    folders = [directory]
    for sub in subdirs:
        top = directory / sub
        if top.is_dir() and not top.is_symlink():
            folders += [Path(root) for root, _, _ in os.walk(top)]   # os.walk follows no symlinks
    removed = []
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for e in entries:
            if _TEMP_NAME.match(e.name) and e.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(e.path)
                    removed.append(Path(e.path))
    return removed


# Locks this process holds: (device, inode) of the directory -> [open lock file, nesting depth].
# flock conflicts between two open files even in one process, so a nested acquisition (the demo
# holding the lock around each subcommand) must reuse the held one.
_held: dict[tuple[int, int], list] = {}
_held_guard = threading.Lock()


@contextlib.contextmanager
def exclusive_lock(directory: str | os.PathLike, *, error: Callable[[str], Exception] = RuntimeError,
                   subdirs: Iterable[str] = ()) -> Iterator[Path]:
    """Hold the exclusive advisory lock of ``directory`` (created if missing) for the block.

    The lock is ``flock`` on ``directory/.lock``, taken without waiting: a second writer gets
    ``error(message)`` at once, the message naming the holder's pid (written into the lock file)
    and what to do. The kernel releases the lock when its holder exits in any way, kill -9
    included, so a crash never leaves the directory locked. The same process may nest it.

    On taking the lock, the temporary files a killed writer left (:func:`remove_stale_temps`,
    with ``subdirs``) are removed. Yields ``directory`` as a Path.
    """
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        st = directory.stat()
    except OSError as exc:
        raise error(f"cannot use {directory} ({exc.strerror or exc}); choose a folder you can write to") from None
    key = (st.st_dev, st.st_ino)
    with _held_guard:
        entry = _held.get(key)
        if entry is not None:
            entry[1] += 1
    if entry is not None:
        try:
            yield directory
        finally:
            with _held_guard:
                entry[1] -= 1
        return
    fd = _take(directory, error)
    with _held_guard:
        _held[key] = entry = [fd, 1]
    try:
        remove_stale_temps(directory, subdirs)
        yield directory
    finally:
        with _held_guard:
            entry[1] -= 1
            if entry[1] == 0:
                del _held[key]
                os.close(fd)     # releases the lock


def _take(directory: Path, error: Callable[[str], Exception]) -> int:
    """Open and lock directory/.lock without waiting; write our pid into it. Returns the fd."""
    lock_file = directory / LOCK_FILE
    try:
        # Not inherited by the programs gatelearn starts (O_CLOEXEC is Python's default): a
        # stray child must not keep the directory locked after we exit.
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise error(f"cannot lock {directory} for writing ({exc.strerror or exc}): this command writes there; "
                    f"make the folder writable or work on a copy of it") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise error(f"cannot lock {directory} ({exc.strerror or exc}); use a folder on a local file system") \
                from None
        holder = _holder(lock_file)
        who = f"pid {holder}" if holder else "a process whose pid is not recorded yet"
        raise error(f"{directory} is in use by another gatelearn command ({who}) that writes there; wait for it to "
                    f"finish or stop it{f' (kill {holder})' if holder else ''}, then run this again, or choose "
                    f"another directory") from None
    with contextlib.suppress(OSError):     # a full disk: the lock holds, only its pid is not shown
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _holder(lock_file: Path) -> int | None:
    try:
        text = lock_file.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
