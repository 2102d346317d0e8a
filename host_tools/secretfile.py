"""Files that hold secrets (passwords, token keys, meter configs) are created owner-only
(0600) from the first byte: written to a temporary file opened with that mode, then renamed
into place, so no reader ever sees the secret in a 0644 file, not even for a moment."""
import os
from pathlib import Path

MODE = 0o600


def write(path, text):
    """Atomically replace `path` with `text`, mode 0600. Returns the path."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, MODE)
    try:
        os.fchmod(fd, MODE)   # an older tmp file keeps its mode otherwise
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path
