"""What a run was made with: package version, locked environment, input data.

:func:`provenance` bundles them for a run's manifest; :func:`provenance_text` says
the same in one Vietnamese sentence for a briefing's "Giả định và phương pháp".

The environment is pinned by ``uv.lock`` at the root of the repository (``make
lock`` refreshes it); :func:`lock_hash` is None where there is none, e.g. in an
installed wheel.
"""
from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from . import __version__, config

#: The lock file of the environment (uv.lock at the repository root).
LOCK_FILE = config.PROJ_ROOT / "uv.lock"
#: Packages whose versions a run records (with Python).
PACKAGES = ("numpy", "pandas", "scipy", "statsmodels", "matplotlib", "papermill", "nbconvert")
#: Hex digits of a shortened hash.
SHORT = 12


def package_version() -> str:
    """The version of nq21model."""
    return __version__


_HASHES: dict = {}


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read once while its inode, size and times stay the same
    (a batch asks for its data files' hashes for the context keys of every notebook,
    the calibration lookup and the manifest)."""
    stat = Path(path).stat()
    key = (str(Path(path).resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    if key not in _HASHES:
        _HASHES[key] = _digest(path)
    return _HASHES[key]


def _digest(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def lock_hash(path: str | Path | None = None) -> str | None:
    """First 12 hex digits of the SHA-256 of ``uv.lock`` (default the repository's),
    or None when there is no lock file (an installed wheel)."""
    path = Path(path) if path is not None else LOCK_FILE
    if not path.is_file():
        return None
    return sha256(path)[:SHORT]


def _ordered(paths) -> list[Path]:
    """The files in a stable order: by key for a mapping (e.g. ``dataset.sources``),
    else by file name, then full path. Empty values are skipped."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if isinstance(paths, Mapping):
        return [Path(paths[key]) for key in sorted(paths) if paths[key]]
    return sorted((Path(p) for p in paths if p), key=lambda p: (p.name, str(p)))


def data_hash(paths: Mapping[str, str | Path] | Iterable[str | Path]) -> str | None:
    """Hex SHA-256 over the bytes of the input files, in a stable order (see
    :func:`_ordered`): the same files give the same hash wherever they lie.

    Each file adds its own SHA-256 and a newline, so the boundary between two
    files counts. None when no file is given; a missing file raises.
    """
    return _hash_files(_ordered(paths))


def _hash_files(files: list[Path]) -> str | None:
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        digest.update(sha256(path).encode("ascii") + b"\n")
    return digest.hexdigest()


def environment_versions() -> dict[str, str | None]:
    """Versions of Python and of the packages of :data:`PACKAGES` (None: not installed)."""
    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def provenance(paths: Mapping[str, str | Path] | Iterable[str | Path] = ()) -> dict:
    """The record of what a run was made with::

        {"package": "nq21model", "version": "0.1.0",
         "lock_sha256": "68bba20842fb" | None,        # first 12 hex of uv.lock
         "data_sha256": "…64 hex…" | None,            # data_hash(paths)
         "data_files": ["cells.csv", "history.csv"],  # in the hashed order
         "environment": {"python": "3.11.7", "numpy": …}}
    """
    files = _ordered(paths)
    return {
        "package": "nq21model",
        "version": package_version(),
        "lock_sha256": lock_hash(),
        "data_sha256": _hash_files(files),
        "data_files": [p.name for p in files],
        "environment": environment_versions(),
    }


def provenance_text(paths: Mapping[str, str | Path] | Iterable[str | Path] = (), *,
                    info: dict | None = None) -> str:
    """One Vietnamese sentence naming the version, the lock and the data hash, e.g.
    "Phiên bản nq21model 0.1.0, khóa môi trường uv.lock 68bba20842fb, Python 3.11.7,
    dữ liệu sha256 3f1c0e9a2b7d (cells.csv, history.csv)."

    ``info`` is a record of :func:`provenance` (e.g. a manifest's); without it the
    record is made from ``paths``. Plain text: escape it for HTML.
    """
    info = provenance(paths) if info is None else info
    lock = (f"khóa môi trường uv.lock {info['lock_sha256']}" if info.get("lock_sha256")
            else "không có tệp khóa môi trường uv.lock (bản cài đặt từ gói)")
    python = (info.get("environment") or {}).get("python")
    if info.get("data_sha256"):
        files = ", ".join(info.get("data_files") or [])
        data = f"dữ liệu sha256 {info['data_sha256'][:SHORT]}" + (f" ({files})" if files else "")
    else:
        data = "không có tệp dữ liệu"
    parts = [f"Phiên bản nq21model {info['version']}", lock] + ([f"Python {python}"] if python else []) + [data]
    return ", ".join(parts) + "."
