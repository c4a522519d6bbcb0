"""The daemons' bearer tokens: where a token comes from, how it is made, how a call is checked.

A token file is created once, at a daemon's first start, with ``O_CREAT|O_EXCL|O_NOFOLLOW`` and
mode 0600 inside a directory made 0700; it is never written through a symbolic link and never
read through one. Rotating a token is deleting its file and restarting the daemon (and giving
its callers the new one). Tokens are compared in constant time.

Standard library only.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from pathlib import Path

TOKEN_ENV = "BOREALIS_TOKEN"  # the CLI's token for the scheduler, before any file
EXECUTOR_TOKEN_ENV = "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"  # as a Mesos agent hands it over
MIN_LENGTH = 16
MAX_LENGTH = 4096


class CredentialError(Exception):
    """A token file that cannot be made or read; ``str()`` is one line naming it."""


def new_secret() -> str:
    """A fresh random token (256 bits, URL-safe text)."""
    return secrets.token_urlsafe(32)


def _private_dir(directory: Path) -> None:
    """Make ``directory`` 0700 (with missing parents) if it is not there; an existing one is
    left as it is, but one that others may write to is refused: whoever can write there could
    plant a token of their own before the daemon's first start."""
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode):
        raise CredentialError(f"{directory}: not a directory (a symbolic link is refused)")
    if stat.S_IMODE(info.st_mode) & 0o022 or info.st_uid not in (os.geteuid(), 0):
        raise CredentialError(
            f"{directory}: another user owns or may write to this directory; keep token"
            " files in one that only this user (or root) can change"
        )


def ensure_token(path: Path) -> str:
    """The daemon's token in ``path``, created (0600; its directory 0700 when made here) if
    there is none yet. An existing file must be the daemon's own and private (0600 or less)."""
    try:
        _private_dir(path.parent)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        return read_token(path, private=True)
    except OSError as e:
        raise CredentialError(f"{path}: cannot create the token: {e.strerror}") from None
    token = new_secret()
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (token + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return token


def read_token(path: Path, private: bool = False) -> str:
    """The token in ``path`` (a regular file, not a link), or ``CredentialError``. ``private``:
    it must also belong to this process's user and be readable by nobody else (a daemon's own)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as e:
        raise CredentialError(f"{path}: cannot read the token: {e.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CredentialError(f"{path}: the token must be a regular file")
        if private and (info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o077):
            raise CredentialError(f"{path}: the token must be this user's own file, mode 0600")
        data = os.read(fd, MAX_LENGTH + 1)
    finally:
        os.close(fd)
    try:
        token = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise CredentialError(f"{path}: the token must be ASCII text") from None
    if not MIN_LENGTH <= len(token) <= MAX_LENGTH or any(c.isspace() for c in token):
        raise CredentialError(f"{path}: the token must be 16 to 4096 characters, no spaces")
    return token


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if it is one."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None  # the scheme is case-insensitive (RFC 9110, 11.1)
    return token.strip()


def matches(given: str | None, token: str) -> bool:
    """Whether ``given`` is ``token``, compared in constant time."""
    if given is None or not token:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), token.encode())
