"""When a cmdline skips ``bash -c``: refusals, bash's PATH search, and running both to compare."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from borealis.executor.runner.commandline import (
    BUILTINS,
    KEYWORDS,
    direct_argv,
    direct_environment,
)

BASH = "/bin/bash"
PATH_ONLY = {"PATH": "/usr/bin:/bin"}


@pytest.mark.parametrize(
    "cmdline",
    [
        "",
        "   \t ",
        "ls; ls",
        "ls && ls",
        "ls | cat",
        "ls > out",
        "ls < in",
        "ls &",
        "(ls)",
        "ls $HOME",
        "ls ${HOME}",
        "echo `id`",
        "ls 'a b'",
        'ls "a"',
        "ls a\\ b",
        "ls *",
        "ls ?",
        "ls [ab]",
        "ls ~",
        "ls # comment",
        "ls {a,b}",
        "ls !x",
        "ls\nls",
        "ls\r",
        "ls é",
        "ls\u00a0/",
    ],
)
def test_shell_syntax_goes_to_bash(cmdline: str) -> None:
    assert direct_argv(cmdline, PATH_ONLY) is None


@pytest.mark.parametrize("word", sorted(BUILTINS | KEYWORDS))
def test_builtins_and_keywords_go_to_bash(word: str) -> None:
    assert direct_argv(f"{word} x", PATH_ONLY) is None


@pytest.mark.parametrize("option", ["-b", "-k"])
def test_the_lists_are_this_bash_s_own(option: str) -> None:
    printed = subprocess.run(
        [BASH, "-c", f"compgen {option}"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert set(printed) == (BUILTINS if option == "-b" else KEYWORDS)


@pytest.mark.parametrize("cmdline", ["A=1 ls", "A=1", "ls=x", "%1", "%ls"])
def test_assignments_and_jobs_go_to_bash(cmdline: str) -> None:
    assert direct_argv(cmdline, PATH_ONLY) is None


@pytest.mark.parametrize(
    ("extra", "direct"),
    [
        ({}, True),
        ({"BASH_ENV": "/sandbox/.thermos_profile"}, False),
        ({"BASH_FUNC_ls%%": "() {  echo shadowed\n}"}, False),
        ({"BASHOPTS": "expand_aliases"}, False),
        ({"SHELLOPTS": "xtrace"}, False),
        ({"POSIXLY_CORRECT": "1"}, False),
        ({"EXECIGNORE": "*"}, False),
        ({"IFS": "x"}, False),
        ({"PS4": "x"}, False),
        ({"PPID": "1"}, False),
        ({"SECONDS": "100"}, False),
        ({"SHLVL": "2"}, True),
        ({"SHLVL": "998"}, True),
        ({"SHLVL": "999"}, False),
        ({"SHLVL": "-1"}, False),
        ({"SHLVL": "abc"}, False),
        ({"LC_ALL": "C.UTF-8", "LANG": "xx_XX.UTF-8"}, True),
        ({"LC_ALL": "xx_XX.UTF-8"}, False),
        ({"ENV": "/x", "HOME": "/x", "TERM": "dumb"}, True),
    ],
)
def test_environment_bash_would_act_on_goes_to_bash(extra: dict[str, str], direct: bool) -> None:
    assert (direct_argv("ls -l", PATH_ONLY | extra) is not None) is direct


def executable(path: Path, text: str = "#!/bin/sh\nexit 0\n", mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_path_search_takes_the_first_executable_regular_file(tmp_path: Path) -> None:
    executable(tmp_path / "a" / "x", mode=0o644)  # not executable: skipped
    (tmp_path / "b" / "x").mkdir(parents=True)  # a directory: skipped
    found = executable(tmp_path / "c" / "x")
    executable(tmp_path / "d" / "x")  # later: not reached
    path = ":".join(str(tmp_path / d) for d in "abcd")
    assert direct_argv("x 1 2", {"PATH": path}) == (str(found), ["x", "1", "2"])


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (["{t}/bin"], "{t}/bin/x"),
        (["{t}/bin/"], "{t}/bin/x"),  # bash adds no second slash
        (["{t}//bin//"], "{t}//bin//x"),  # nor removes any: the script's $0 shows it
        (["{t}/none", "{t}/bin"], "{t}/bin/x"),
        (["", "{t}/bin"], None),  # the cwd first: left to bash
        (["bin", "{t}/bin"], None),  # relative to the cwd: left to bash
        (["{t}/bin", "bin"], "{t}/bin/x"),  # after the hit: irrelevant
        (["{t}/none"], None),  # not found: bash says so, 127
    ],
)
def test_path_entries(tmp_path: Path, entries: list[str], expected: str | None) -> None:
    executable(tmp_path / "bin" / "x")
    path = ":".join(e.format(t=tmp_path) for e in entries)
    result = direct_argv("x", {"PATH": path})
    assert (None if result is None else result[0]) == (
        None if expected is None else expected.format(t=tmp_path)
    )


def test_no_path_goes_to_bash() -> None:
    assert direct_argv("ls", {}) is None
    assert direct_argv("ls", {"PATH": ""}) is None


@pytest.mark.parametrize(
    ("text", "direct"),
    [
        ("#!/bin/sh\nexit 0\n", True),
        ("#! /bin/sh -e\nexit 0\n", True),
        ("exit 0\n", False),  # ENOEXEC: bash would run it as a script itself
        ("#!/no/such/interpreter\n", False),  # bash: "bad interpreter", 126
        ("#!sh\n", False),  # relative interpreter
        ("#!\n", False),
        ("#!/bin/sh" + " " * 300, False),  # no end of line where the kernel looks
    ],
)
def test_what_execve_runs(tmp_path: Path, text: str, direct: bool) -> None:
    executable(tmp_path / "x", text)
    assert (direct_argv("./x", PATH_ONLY, cwd=str(tmp_path)) is not None) is direct


def test_a_word_with_a_slash_is_used_as_typed(tmp_path: Path) -> None:
    executable(tmp_path / "sub" / "x")
    env = {"PATH": "/usr/bin"}
    assert direct_argv("./sub/x a", env, cwd=str(tmp_path)) == ("./sub/x", ["./sub/x", "a"])
    assert direct_argv("sub//x", env, cwd=str(tmp_path)) == ("sub//x", ["sub//x"])
    assert direct_argv("./sub/missing", env, cwd=str(tmp_path)) is None
    assert direct_argv("./sub", env, cwd=str(tmp_path)) is None
    elf = direct_argv("/usr/bin/env", env)
    assert elf == ("/usr/bin/env", ["/usr/bin/env"])


def test_a_script_as_its_interpreter(tmp_path: Path) -> None:
    inner = executable(tmp_path / "inner", "#!/bin/sh\nexit 0\n")
    executable(tmp_path / "outer", f"#!{inner}\n")
    assert direct_argv("./outer", PATH_ONLY, cwd=str(tmp_path)) is not None


def both(cmdline: str, env: dict[str, str], cwd: Path) -> tuple[object, object]:
    """What ``bash -c`` and the direct exec print and return, as the coordinator would run them."""
    direct = direct_argv(cmdline, env, cwd=str(cwd))
    assert direct is not None, cmdline
    path, argv = direct

    def run(executable: str, args: list[str], environment: dict[str, str]) -> object:
        done = subprocess.run(
            args,
            executable=executable,  # relative: from cwd, as posix_spawn after chdir
            env=environment,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
        out = done.stdout.decode()
        if "env" in cmdline:
            out = "\n".join(sorted(out.splitlines()))  # bash orders variables its own way
        return done.returncode, out, done.stderr.decode()

    return (
        run(BASH, [BASH, "-c", cmdline], env),
        run(path, argv, direct_environment(env, str(cwd), path)),
    )


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    box = tmp_path / "sandbox"
    executable(box / "show", '#!/bin/sh\necho "$0|$#|$*|$_"\nexit 3\n')
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(box)
    return box


@pytest.mark.parametrize(
    "cmdline",
    [
        "/usr/bin/env",
        "env",
        "ls -d /",
        "ls /no-such-directory",
        "sleep 0",
        "expr 1 + 2",
        "expr 1 = 2",
        "id -u",
        "./show a b=c d,e@f%g",
        "env -u PATH /usr/bin/env",
    ],
)
def test_same_behaviour_as_bash(cmdline: str, sandbox: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(sandbox), "BOREALIS_RUN": "0"}
    via_bash, direct = both(cmdline, env, sandbox)
    assert direct == via_bash


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"PWD": "{t}/sandbox", "OLDPWD": "/"},
        {"PWD": "{t}/link", "OLDPWD": "elsewhere"},  # kept: names the cwd; relative to it
        {"PWD": "{t}/elsewhere", "OLDPWD": "{t}/no-such"},
        {"PWD": "relative", "OLDPWD": ""},
        {"SHLVL": "0"},
        {"SHLVL": "007", "_": "/bin/previous"},
        {"SHLVL": "998"},
        {"a-b": "not a name", "x": "() { echo hi; }", "LANG": "xx_XX.UTF-8"},
        dict.fromkeys(["UID", "EUID", "GROUPS", "FUNCNAME", "HOSTNAME", "SHELL", "TMPDIR"], "v"),
        dict.fromkeys(["CDPATH", "GLOBIGNORE", "HISTFILE", "PS0", "TMOUT", "ENV", "MAIL"], "v"),
    ],
)
def test_same_environment_as_bash(extra: dict[str, str], sandbox: Path) -> None:
    t = sandbox.parent
    env = {"PATH": "/usr/bin:/bin"} | {k: v.replace("{t}", str(t)) for k, v in extra.items()}
    via_bash, direct = both("env", env, sandbox)
    assert direct == via_bash
