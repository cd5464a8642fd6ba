"""Safe file writing: a file is either its old version or its complete new one, never half-written;
a write that fails says which file and why, and a long run checks its folders before it starts."""
from __future__ import annotations

import hashlib
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

WRITE_HINT = "(disk full? read-only folder?)"


@contextmanager
def atomic_write(path: str | Path):
    """Yield a temporary path beside `path`; on success it replaces `path` in one step (os.replace),
    on error it is removed and `path` is left untouched. A failed write (OSError) is raised again with
    a message that names `path` and the likely causes."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        raise OSError(f"could not write {path} {WRITE_HINT}: {e}") from e
    finally:
        tmp.unlink(missing_ok=True)


def check_writable(folder: str | Path, need_bytes: int = 0) -> Path:
    """Create `folder`, write and remove a small file in it, and check that it has `need_bytes` free, so that
    a long run fails before it starts rather than at its first save."""
    folder = Path(folder)
    probe = folder / f".write_test.{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as e:
        raise OSError(f"could not write {folder} {WRITE_HINT}: {e}") from e
    free = shutil.disk_usage(folder).free
    if free < need_bytes:
        raise OSError(f"not enough free space in {folder}: about {need_bytes / 2 ** 20:.1f} MB needed, "
                      f"{free / 2 ** 20:.1f} MB free; free some space or choose another folder")
    return folder


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
