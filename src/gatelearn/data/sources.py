"""Where dataset files come from: local folders first, a checked download last.

Search order for a dataset's files (the first folder that holds *all* of them wins, so train
and test never come from two different copies):

1. ``data_dir`` if given, else the environment variable ``GATELEARN_DATA`` if set;
2. the system copy (``/usr/share/datasets/fashion-mnist`` from Debian's dataset-fashion-mnist);
3. the copy bundled in the package (small UCI sets: adult, breast-cancer, monks);
4. the download cache (``$XDG_CACHE_HOME/gatelearn``, default ``~/.cache/gatelearn``).

Each root is tried as-is and with the dataset's subfolder names (``mnist/``, ``adult/``,
``monks/``...), so ``data_dir=/work/shared/datasets`` works for every set stored there. A file
``NAME`` is also accepted as ``NAME.gz`` and vice versa; readers detect gzip by content.

If nothing is found and ``download`` is true, the files are fetched from their official source
into ``data_dir`` / ``GATELEARN_DATA`` / the cache (in the dataset's subfolder), their MD5 is
checked, and they are written atomically so an interrupted download never leaves a partial file
under the final name. Any failure raises ``FileFormatError`` saying which file is missing, where
it was looked for, and how to supply it.
"""
from __future__ import annotations

import hashlib
import os
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import FileFormatError
from ..fileio import atomic_path, atomic_write_bytes

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
# R's mlbench package as Debian installs it (r-cran-mlbench): many-class UCI tables as .rda files
MLBENCH_DIR = Path("/usr/lib/R/site-library/mlbench/data")
_MLBENCH = {"letter": "LetterRecognition", "soybean": "Soybean", "vowel": "Vowel", "satellite": "Satellite",
            "shuttle": "Shuttle", "glass": "Glass", "vehicle": "Vehicle", "dna": "DNA"}
SYSTEM_DIRS = {"fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")],
               **{name: [MLBENCH_DIR] for name in _MLBENCH}}
DOWNLOAD_TIMEOUT_S = 60


@dataclass(frozen=True)
class RemoteFile:
    name: str      # file name as stored locally (and as published)
    url: str       # official source
    md5: str | None  # checksum of the published bytes; None where no official one exists


@dataclass(frozen=True)
class Source:
    subdirs: tuple[str, ...]     # folder names tried under each root
    files: tuple[RemoteFile, ...]
    archive: RemoteFile | None = None  # files come out of this archive (CIFAR-10) if set
    archive_member_dir: str = ""       # folder inside the archive that holds the files
    hint: str = ""                     # how to get the files where there is no download

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.files]


_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # torchvision's mirror of LeCun's files
_FASHION_URL = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"
_UCI_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/"


def _idx_files(base: str, md5s: list[str]) -> tuple[RemoteFile, ...]:
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    return tuple(RemoteFile(n, base + n, m) for n, m in zip(names, md5s))


def _monk_files(k: int) -> tuple[RemoteFile, ...]:
    md5 = {1: ("fc1fc3a673e00908325c67cf16283335", "de4255acb72fb29be5125a7c874e28a0"),
           2: ("f109ee3f95805745af6cdff06d6fbc94", "106cb9049ba5ccd7969a0bd5ff19681d"),
           3: ("613e44dbb8ffdf54d364bd91e4e74afd", "46815731e31c07f89422cf60de8738e7")}[k]
    return (RemoteFile(f"monks-{k}.train", f"{_UCI_URL}monks-problems/monks-{k}.train", md5[0]),
            RemoteFile(f"monks-{k}.test", f"{_UCI_URL}monks-problems/monks-{k}.test", md5[1]))


SOURCES: dict[str, Source] = {
    "mnist": Source(("mnist", "MNIST"), _idx_files(_MNIST_URL, [
        "f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
        "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"])),
    "fashion-mnist": Source(("fashion-mnist", "fashion_mnist", "FashionMNIST"), _idx_files(_FASHION_URL, [
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
        "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"])),
    "adult": Source(("adult",), (
        RemoteFile("adult.data", _UCI_URL + "adult/adult.data", "5d7c39d7b8804f071cdd1f2a7c460872"),
        RemoteFile("adult.test", _UCI_URL + "adult/adult.test", "35238206dfdf7f1fe215bbb874adecdc"))),
    "breast-cancer": Source(("breast-cancer",), (
        RemoteFile("breast-cancer.data", _UCI_URL + "breast-cancer/breast-cancer.data",
                   "d887db31e2b99e39c4b7fc79d2f36a3a"),)),
    **{f"monk{k}": Source(("monks", "monks-problems", f"monk{k}"), _monk_files(k)) for k in (1, 2, 3)},
    "cifar10": Source(
        ("cifar-10-batches-bin", "cifar10/cifar-10-batches-bin", "cifar-10/cifar-10-batches-bin", "cifar10"),
        tuple(RemoteFile(n, "", None) for n in
              [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]),
        archive=RemoteFile("cifar-10-binary.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                           "c32a1d4ab5d03f1284b67883e8d87530"),
        archive_member_dir="cifar-10-batches-bin"),
    **{name: Source(("mlbench", name), (RemoteFile(f"{obj}.rda", "", None),),
                    hint="Install R's mlbench package (Debian: apt-get install r-cran-mlbench), or copy its "
                         f"data/{obj}.rda into DATA/mlbench/.")
       for name, obj in _MLBENCH.items()},
}


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gatelearn"


def _user_root(data_dir: str | os.PathLike | None) -> Path | None:
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get("GATELEARN_DATA")
    return Path(env).expanduser() if env else None


def candidate_dirs(name: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Every folder searched for dataset ``name``, in order."""
    src = SOURCES[name]
    roots: list[Path] = []
    user = _user_root(data_dir)
    if user is not None:
        roots.append(user)
    roots += SYSTEM_DIRS.get(name, [])
    roots.append(BUNDLED_DIR)
    roots.append(cache_dir())
    dirs: list[Path] = []
    for root in roots:
        # The system folder is the dataset folder itself; every other root may hold it directly
        # (a user pointing data_dir at the mnist folder) or as a named subfolder.
        for d in [root] + ([] if root in SYSTEM_DIRS.get(name, []) else [root / s for s in src.subdirs]):
            if d not in dirs:
                dirs.append(d)
    return dirs


def _find_in(folder: Path, filename: str) -> Path | None:
    alternatives = [filename, filename[:-3] if filename.endswith(".gz") else filename + ".gz"]
    for alt in alternatives:
        p = folder / alt
        if p.is_file():
            return p
    return None


def _download_target(name: str, data_dir: str | os.PathLike | None) -> Path:
    user = _user_root(data_dir)
    return (user if user is not None else cache_dir()) / SOURCES[name].subdirs[0]


def fetch_url(url: str) -> bytes:
    """Download ``url`` and return its bytes. Tests replace this function to stay offline."""
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:  # noqa: S310 (fixed https URLs)
        return resp.read()


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _download(remote: RemoteFile, dest: Path) -> None:
    try:
        data = fetch_url(remote.url)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise _DownloadFailed(f"download of {remote.url} failed: {exc}") from exc
    if remote.md5 is not None and _md5(data) != remote.md5:
        raise _DownloadFailed(f"download of {remote.url} has MD5 {_md5(data)}, expected {remote.md5} "
                              f"(corrupted transfer or changed upstream file); nothing was saved")
    atomic_write_bytes(dest, data)


def extract_cifar_archive(archive: Path, dest: Path, member_dir: str, names: list[str]) -> None:
    """Copy the named batch files out of the CIFAR-10 tar.gz into ``dest``.

    Only regular-file members named ``member_dir/NAME`` are read, so a hostile archive cannot
    write outside ``dest`` (no tarfile.extractall, no links, no absolute paths).
    """
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = {m.name: m for m in tar.getmembers() if m.isfile()}
            for n in names:
                m = members.get(f"{member_dir}/{n}")
                if m is None:
                    raise FileFormatError(f"{archive}: archive has no regular file {member_dir}/{n}")
                fh = tar.extractfile(m)
                assert fh is not None  # isfile() members always have a file object
                with atomic_path(dest / n) as tmp:
                    tmp.write_bytes(fh.read())
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise FileFormatError(f"{archive}: cannot read the CIFAR-10 archive ({exc})") from exc


class _DownloadFailed(Exception):
    pass


def _missing_error(name: str, looked: list[Path], partial: dict[Path, list[str]], reason: str) -> FileFormatError:
    src = SOURCES[name]
    where = "\n  ".join(str(d) for d in looked)
    part = "".join(f"\n  {d} has only {', '.join(have)}" for d, have in partial.items())
    sub = " or ".join(f"'{s}/'" for s in src.subdirs[:2])
    return FileFormatError(
        f"dataset {name!r}: files {', '.join(src.names)} not found together "
        f"(plain or .gz). Looked in:\n  {where}{part}\n{reason}\n"
        f"Supply them with load_dataset({name!r}, data_dir=FOLDER) or the environment variable "
        f"GATELEARN_DATA=FOLDER, where FOLDER holds the files directly or in a subfolder {sub}.")


def locate(name: str, data_dir: str | os.PathLike | None = None, download: bool = True) -> dict[str, Path]:
    """Paths of dataset ``name``'s files, keyed by file name; downloads them if allowed."""
    if name not in SOURCES:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(SOURCES)}")
    src = SOURCES[name]
    dirs = candidate_dirs(name, data_dir)
    partial: dict[Path, list[str]] = {}
    for d in dirs:
        found = {n: _find_in(d, n) for n in src.names}
        if all(found.values()):
            return found  # type: ignore[return-value]
        have = [n for n, p in found.items() if p is not None]
        if have:
            partial[d] = have
    if name == "cifar10" and not partial:
        for d in dirs:
            if (d / "data_batch_1").is_file() or (d.parent / "cifar-10-batches-py").is_dir():
                # Only the Python (pickle) layout is there; we never unpickle.
                partial[d] = ["the pickle layout cifar-10-batches-py, which gatelearn does not read "
                              "(unpickling runs code); use the binary version cifar-10-binary.tar.gz"]
                break
    if not download or not src.files[0].url and src.archive is None:
        raise _missing_error(name, dirs, partial, src.hint or "download=False, so nothing was downloaded.")
    target = _download_target(name, data_dir)
    try:
        if src.archive is not None:
            archive = target.parent / src.archive.name
            if not archive.is_file():
                _download(src.archive, archive)
            extract_cifar_archive(archive, target, src.archive_member_dir, src.names)
        else:
            for f in src.files:
                if _find_in(target, f.name) is None:
                    _download(f, target / f.name)
    except _DownloadFailed as exc:
        raise _missing_error(name, dirs, partial, f"Downloading into {target} failed: {exc}") from None
    return {n: target / n for n in src.names}
