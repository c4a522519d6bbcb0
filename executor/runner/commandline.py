"""When a process's cmdline can skip ``/bin/bash -c`` (docs/runner.md, issue #13).

Bash already replaces itself with the command when ``-c`` holds one simple
command, so skipping it changes nothing the program can see; it saves the start
of bash only. :func:`direct_argv` says yes only when it can prove that:

- the cmdline is words separated by spaces or tabs, each of ASCII letters,
  digits and ``_-./:,@%+=`` only: no quoting, expansion, glob, comment,
  redirection, operator, newline or non-ASCII character;
- the first word is no assignment (``=``), no job (``%1`` is ``fg %1``) and no
  bash keyword or builtin, even one that also exists as a program (``echo``,
  ``true``, ``kill``, ``test``, ``printf``...: bash would run its own);
- the environment holds nothing bash acts on or rewrites: no ``BASH*`` (so no
  ``BASH_ENV`` profile, no ``BASHOPTS`` and no ``BASH_FUNC_*%%`` exported
  function), none of :data:`BASH_REWRITES` (``SHELLOPTS``, ``EXECIGNORE``,
  ``IFS``...), an ``LC_ALL`` bash cannot warn about and a plain ``SHLVL``;
- the program is found as bash would find it: a first word with ``/`` is used
  as typed (relative to ``cwd``), otherwise the first absolute ``PATH`` entry
  holding an executable regular file (an empty or relative entry before it
  means "ask bash"). It must start with ``\\x7fELF``, or with ``#!`` and an
  absolute interpreter that passes the same test: a file without either
  would fail with ENOEXEC and bash would then run it as a script. A command
  that is not found goes to bash, which says "command not found" (127).

A "no" is ``None``: the caller runs ``bash -c`` exactly as before. The checks
use the caller's permissions, so call this as the user that will run the
program (the caller uses bash when it switches users). Left over: an exec
that fails for a reason these checks cannot see (a binary for another
machine, a missing dynamic loader) ends the start with that error instead of
bash's message and status 126/127.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:,@%+= \t")
# `compgen -k` and `compgen -b` of GNU bash 5.2, as they print them
KEYWORDS = frozenset(
    "if then else elif fi case esac for select while until do done in function time { } ! [[ ]]"  # noqa: SIM905
    " coproc".split()
)
BUILTINS = frozenset(
    ". : [ alias bg bind break builtin caller cd command compgen complete compopt continue"  # noqa: SIM905
    " declare dirs disown echo enable eval exec exit export false fc fg getopts hash help"
    " history jobs kill let local logout mapfile popd printf pushd pwd read readarray readonly"
    " return set shift shopt source suspend test times trap true type typeset ulimit umask"
    " unalias unset wait".split()
)
# Variables bash acts on, drops, resets or makes dynamic before the command runs
BASH_REWRITES = frozenset(
    "SHELLOPTS POSIXLY_CORRECT EXECIGNORE IFS PPID PS1 PS2 PS4 OPTIND OPTERR LINENO HISTCMD"  # noqa: SIM905
    " RANDOM SRANDOM SECONDS EPOCHREALTIME EPOCHSECONDS COMP_WORDBREAKS".split()
)
QUIET_LOCALES = frozenset({"", "C", "POSIX", "C.UTF-8", "C.utf8"})  # never a bash warning
INTERPRETER_HOPS = 3


def direct_argv(
    cmdline: str, env: Mapping[str, str], cwd: str = "."
) -> tuple[str, list[str]] | None:
    """``(executable, argv)`` to exec in ``cwd`` instead of ``bash -c cmdline``, or None.

    ``executable`` is spelled as bash would pass it to execve (a relative name stays
    relative to ``cwd``); ``argv[0]`` is the first word as typed. Rules: the module's.
    """
    if not SAFE.issuperset(cmdline) or not _quiet(env):
        return None
    argv = cmdline.split()
    if not argv:
        return None
    name = argv[0]
    if "=" in name or name.startswith("%") or name in KEYWORDS or name in BUILTINS:
        return None
    path = name if "/" in name else _search(name, env.get("PATH"))
    if path is None or not _launchable(os.path.join(cwd, path), INTERPRETER_HOPS):
        return None
    return path, argv


def direct_environment(env: Mapping[str, str], cwd: str, executable: str) -> dict[str, str]:
    """The environment ``bash -c`` would have given the program ``executable`` run in ``cwd``.

    That is ``env`` with bash's ``PWD`` (kept if it names ``cwd``, else the physical
    path), ``OLDPWD`` (dropped unless a directory), ``SHLVL`` (normalised, ``0`` if
    unset) and ``_`` (the executable). Only for an ``env`` that :func:`direct_argv`
    accepted; ``cwd`` must exist. Bash orders the variables its own way.
    """
    result = dict(env)
    here = os.stat(cwd)
    pwd = env.get("PWD", "")
    if not (pwd.startswith("/") and _same_directory(pwd, here)):
        result["PWD"] = os.path.realpath(cwd)  # bash's getcwd(): the physical path
    old = env.get("OLDPWD")
    if old is not None and not (old and os.path.isdir(os.path.join(cwd, old))):
        del result["OLDPWD"]  # bash keeps it only when it names a directory
    result["SHLVL"] = str(int(env.get("SHLVL", "0")))  # +1 at bash's start, -1 at its exec
    result["_"] = executable
    return result


def _quiet(env: Mapping[str, str]) -> bool:
    """True when bash would neither act on nor change anything in ``env``."""
    if any(name.startswith("BASH") or name in BASH_REWRITES for name in env):
        return False
    level = env.get("SHLVL", "0")  # bash resets other values, warning about some
    plain_level = level.isascii() and level.isdigit() and int(level) < 999
    return plain_level and env.get("LC_ALL", "") in QUIET_LOCALES


def _search(name: str, path: str | None) -> str | None:
    """The first ``PATH`` entry with an executable regular file ``name``, as bash spells it."""
    if not path:
        return None
    for directory in path.split(":"):
        if not directory.startswith("/"):
            return None  # relative to the cwd at exec: leave it to bash
        candidate = directory + name if directory.endswith("/") else f"{directory}/{name}"
        try:
            mode = os.stat(candidate).st_mode
        except (OSError, ValueError):
            continue
        if not stat.S_ISDIR(mode) and os.access(candidate, os.X_OK):
            return candidate if stat.S_ISREG(mode) else None
    return None


def _launchable(path: str, hops: int) -> bool:
    """An executable regular file execve runs: ELF, or ``#!`` and a launchable interpreter."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode) or not os.access(path, os.X_OK):
            return False
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            head = os.read(fd, 256)
        finally:
            os.close(fd)
    except (OSError, ValueError):
        return False
    if head.startswith(b"\x7fELF"):
        return True
    line, newline, _ = head.partition(b"\n")
    words = line[2:].split()
    if not (line.startswith(b"#!") and newline and words and words[0].startswith(b"/") and hops):
        return False
    return _launchable(os.fsdecode(words[0]), hops - 1)


def _same_directory(path: str, here: os.stat_result) -> bool:
    try:
        there = os.stat(path)
    except (OSError, ValueError):
        return False
    return (there.st_dev, there.st_ino) == (here.st_dev, here.st_ino)
