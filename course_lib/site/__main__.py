"""``python -m course_lib.site build [--out DIR]`` and ``python -m course_lib.site check DIR``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.site", description="The course as a static site.")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the site (offline; notebooks are not executed)")
    build.add_argument("--out", type=Path, help="output folder (default: build/site in the course's folder)")
    build.add_argument("--quiet", action="store_true", help="no line per page")
    check = commands.add_parser("check", help="list broken internal links and network fetches of a built site")
    check.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    from course_lib.site.build import ROOT
    from course_lib.site.build import build as build_site
    from course_lib.site.links import check_site

    if args.command == "build":
        out = args.out or ROOT / "build" / "site"
        build_site(ROOT, out, progress=not args.quiet)
        folder = out
    else:
        folder = args.folder
    problems = check_site(folder)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{folder}: {'no broken links' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
