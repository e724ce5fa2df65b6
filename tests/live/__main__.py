"""``python -m tests.live [TARGET...]``: run the live proof and print the table and remarks."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

from .runner import OPTS, TARGETS, expected, missing_tools, run_target, table


def main(argv: list[str]) -> int:
    spec = expected()
    targets = argv or list(TARGETS)
    cases = [(t, o) for t in targets for o in OPTS if missing_tools(t) is None]
    for target in targets:
        why = missing_tools(target)
        if why is not None:
            print(f"skipped {target}: {why}")
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda case: run_target(case[0], case[1], spec), cases))
    print(table(outcomes))
    failed = False
    for outcome in outcomes:
        for line in outcome.problems:
            failed = True
            print(f"PROBLEM {line}")
        for line in outcome.remarks:
            print(f"remark  {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
