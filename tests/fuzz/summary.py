"""Summary of a fuzzing campaign (`make fuzz`): operations and roles tried, requests made and
their statuses, and every failing test.

    python -m tests.fuzz.summary var/fuzz/stats.json var/fuzz/junit.xml
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET  # our own pytest report, not untrusted input
from collections import Counter


def summarise(stats_path: str, junit_path: str) -> tuple[str, int]:
    with open(stats_path) as source:
        stats: dict[str, dict[str, int]] = json.load(source)
    by_class: Counter[str] = Counter()
    for statuses in stats.values():
        for status, count in statuses.items():
            by_class[f"{status[0]}xx"] += count
    tests = ET.parse(junit_path).getroot().iter("testcase")  # noqa: S314
    outcomes: Counter[str] = Counter()
    failing = []
    for case in tests:
        failed = case.find("failure") is not None or case.find("error") is not None
        outcomes["failed" if failed else "passed"] += 1
        if failed:
            failing.append(case.get("name", "?"))
    server_errors = sum(
        n for s in stats.values() for code, n in s.items() if code.startswith("5") and code != "503"
    )
    lines = [
        f"operations: {len(stats)}",
        f"requests: {sum(by_class.values())} "
        + " ".join(f"{k}={by_class[k]}" for k in sorted(by_class)),
        f"server errors (5xx other than 503): {server_errors}",
        f"tests: {outcomes['passed']} passed, {outcomes['failed']} failed",
        *(f"  FAILED {name}" for name in failing),
    ]
    return "\n".join(lines), outcomes["failed"]


if __name__ == "__main__":
    text, failed = summarise(sys.argv[1], sys.argv[2])
    print(text)
    sys.exit(1 if failed else 0)
