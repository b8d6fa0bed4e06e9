"""`python -m workers [--processes N]`: one worker process (what `earshot worker` runs N times)."""

from __future__ import annotations

import argparse
import sys

from engine.settings import Settings
from workers.runner import serve


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m workers")
    parser.add_argument("--processes", type=int, default=1, help="processes on this machine (sizes CPU threads)")
    args = parser.parse_args()
    return serve(Settings.from_env(), processes=args.processes)


if __name__ == "__main__":
    sys.exit(main())
