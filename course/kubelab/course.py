"""``kubelab course build|check``: generate the released labs from their sources, or check they are current."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kubelab.autograde.course import Course, CourseError
from kubelab.autograde.release import build, check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubelab course", description="Author the course's labs.")
    parser.add_argument("--course", type=Path, help="the course directory (default: the one around this directory)")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("build", help="generate labs/LAB from solutions/LAB (default: every lab)").add_argument("labs", nargs="*")
    sub.add_parser("check", help="fail when labs/ is out of date or a notebook holds outputs").add_argument("labs", nargs="*")
    args = parser.parse_args(argv)
    try:
        course = Course(args.course.resolve()) if args.course else Course.find()
        if args.action == "build":
            changed = build(course, args.labs or None)
            print("\n".join(f"built labs/{lab}" for lab in changed) or "labs/ is already up to date")
            return 0
        report = check(course, args.labs or None)
    except CourseError as e:
        print(f"kubelab course: {e}", file=sys.stderr)
        return 1
    for lab, problems in report.items():
        print(f"{lab}: out of date; run 'kubelab course build {lab}'", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
    if not report:
        print(f"{len(course.labs())} labs up to date")
    return 1 if report else 0
