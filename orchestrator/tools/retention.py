"""Prune old runs: their rows in the run database, their folders under Data/runs/, their logs and their reports.

Description:
    Keeps the run history from growing without bound. Select runs by count (keep the newest N) or by age
    (started more than D days ago), or both (a run matching either is pruned). Runs still in progress are
    never pruned. A pruned run's reports go with it: Data/reports/<run id>.xlsx, .json and .junit.xml, and
    every comparison workbook Data/reports/compare_<A>_<B>.xlsx naming it (reports written elsewhere with
    `report.py --output` are not tracked and stay). `--dry-run` shows what would go: the runs, then the
    reports.

Usage:
    python tools/retention.py (--keep N | --older-than DAYS) [--dry-run] [--workdir DIR]

Examples:
    python tools/retention.py --keep 50 --dry-run
    python tools/retention.py --older-than 30

Exit codes: 0 done, 2 bad usage.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.errors import UserError, write_out  # noqa: E402
from engine.paths import Paths  # noqa: E402
from helpformat import Parser  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="retention.py", help_command="python tools/retention.py",
                    description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=int, metavar="N", help="keep the newest N finished runs")
    parser.add_argument("--older-than", type=float, metavar="DAYS", help="prune runs started more than DAYS ago")
    parser.add_argument("--dry-run", action="store_true",
                        help="list what would be pruned (runs, then their reports), change nothing")
    parser.add_argument("--workdir", type=Path, help="the work folder holding Data/ and Logs/")
    args = parser.parse_args(argv)
    if args.keep is None and args.older_than is None:
        parser.error("give --keep N and/or --older-than DAYS")
    if (args.keep is not None and args.keep < 0) or (args.older_than is not None and args.older_than < 0):
        parser.error("--keep and --older-than take numbers >= 0")
    try:
        from engine.retention import prune, select_old_runs
        from engine.rundb import RunDB

        paths = Paths.for_workdir(args.workdir)
        if not paths.db.exists():
            write_out(f"no run database at {paths.db}: nothing to prune")
            return 0
        db = RunDB(paths.db)
        db.mark_crashed()
        pruned = prune(paths, db, select_old_runs(db, args.keep, args.older_than), dry_run=args.dry_run)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    verb = "would prune" if args.dry_run else "pruned"
    lines = [f"{verb} {len(pruned.run_ids)} run(s), {pruned.files} file(s) ({len(pruned.reports)} report(s)), "
             f"{pruned.bytes / 1048576:.1f} MB"]
    lines += [f"  {run_id}" for run_id in pruned.run_ids]
    lines += [f"  {report.relative_to(paths.workdir)}" for report in pruned.reports]  # Data/reports/...
    write_out("\n".join(lines))  # `| head` ends the listing, not the command (the pruning is already done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
