"""Where heavy test-bed artefacts live, and how they are keyed.

One cache folder outside the clone (docs/cache.md describes its layout):

    $OOMGS_CACHE_DIR (default /var/cache/oom-graceful-shutdown as root,
                      ~/.cache/oom-graceful-shutdown otherwise)
      images/<name>-<key>/   VM base images (base.qcow2 + per-image ssh key)
      debootstrap/           .deb files debootstrap downloaded (reused across images)
      kernel/<key>/          kernel .debs (the kernel role)
      ccache/                compiler cache for kernel builds

An artefact's key is a hash of everything that built it, so a change to any
input builds a new artefact and an unchanged input reuses the old one.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable

DEFAULT_ROOT_CACHE = Path("/var/cache/oom-graceful-shutdown")


def cache_dir() -> Path:
    """Return the cache root, creating it if needed."""
    override = os.environ.get("OOMGS_CACHE_DIR")
    if override:
        root = Path(override)
    elif os.geteuid() == 0:
        root = DEFAULT_ROOT_CACHE
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "oom-graceful-shutdown"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _expand(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(p for p in path.rglob("*") if p.is_file() or p.is_symlink())
        else:
            files.append(path)
    return files


def content_key(inputs: Iterable[Path], extra: Iterable[str] = (), base: Path | None = None, length: int = 16) -> str:
    """Hash the names, modes and contents of input files (directories recurse) plus extra strings.

    Names are taken relative to base, so the key does not depend on where the
    clone lives. Order of the inputs does not matter.
    """
    digest = hashlib.sha256()
    entries = []
    for path in _expand(inputs):
        name = str(path.relative_to(base)) if base else str(path)
        if path.is_symlink():
            payload = b"symlink:" + os.readlink(path).encode()
        else:
            payload = path.read_bytes()
        mode = path.lstat().st_mode & 0o7777
        entries.append((name, mode, payload))
    for name, mode, payload in sorted(entries):
        digest.update(f"{name}\0{mode:o}\0{len(payload)}\0".encode())
        digest.update(payload)
    for item in extra:
        digest.update(f"extra\0{item}\0".encode())
    return digest.hexdigest()[:length]
