"""borealis gc: remove finished tasks and what they left on disk.

    borealis gc [--older-than DURATION] [--root DIR] [--dry-run]

Removes every task that ended more than DURATION ago (default 7d; 0 for
all finished tasks): its task file, its checkpoint directory and, when it lies
under <root>/sandboxes, its sandbox. Sandboxes elsewhere (given with
--sandbox) are the user's and are left alone. Active tasks are never
touched.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

from borealis.contract.replay import load

from .options import add_root, command_parser, parse_duration, root_of


def add_parser(sub: Any, name: str, help_text: str) -> None:
    parser = command_parser(sub, name, help_text, __doc__)
    parser.add_argument("--older-than", default="7d", metavar="DURATION")
    add_root(parser)
    parser.add_argument("--dry-run", action="store_true", help="only list what would go")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root = root_of(args)
    cutoff = time.time() - parse_duration(args.older_than, "--older-than")
    removed = 0
    for task_id in sorted(root.task_ids("finished")):
        paths = root.task(task_id)
        try:
            ended = paths.finished_task_file.stat().st_mtime
        except FileNotFoundError:
            continue
        if ended > cutoff:
            continue
        doomed: list[Path] = [paths.checkpoint_dir]
        try:
            header = load(paths.runner_stream).header
        except Exception:  # an unreadable checkpoint is still garbage
            header = None
        if header is not None:
            sandbox = Path(header.sandbox)
            if sandbox.resolve().is_relative_to(root.sandboxes_dir.resolve()):
                doomed.append(sandbox)
        print(f"{'would remove' if args.dry_run else 'removing'} {task_id}")
        if not args.dry_run:
            for path in doomed:
                shutil.rmtree(path, ignore_errors=True)
            paths.finished_task_file.unlink(missing_ok=True)
        removed += 1
    print(f"{removed} finished task(s) {'to remove' if args.dry_run else 'removed'}")
    return 0
