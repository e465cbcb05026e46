#!/usr/bin/env python3
"""Render docs/fast-lane-fidelity.md from the fidelity records in docs/fidelity/ (each written by
``bpf-harness fidelity --record docs/fidelity/RELEASE.json.gz`` after a run with a UML and a VM cell of a release):

    python3 ci/fidelity_docs.py            # write the page
    python3 ci/fidelity_docs.py --check    # exit 1 when the page is not what the records give

Sections: newest series first (6.12 before 6.1), then by release.  A unit test runs the check.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import fidelity  # noqa: E402

RECORDS = ROOT / "docs" / "fidelity"
PAGE = ROOT / "docs" / "fast-lane-fidelity.md"


def version_key(path: Path) -> tuple[int, ...]:
    name = path.name.removesuffix(".json.gz")
    return tuple(int(p) if p.isdigit() else 0 for p in name.split("."))


def page() -> str:
    paths = sorted(RECORDS.glob("*.json.gz"), key=version_key, reverse=True)
    return fidelity.render_page([fidelity.load(p) for p in paths])


def main(argv: list[str]) -> int:
    text = page()
    if argv[1:] == ["--check"]:
        if PAGE.read_text() != text:
            print(f"{PAGE.relative_to(ROOT)} is not what {RECORDS.relative_to(ROOT)}/ gives: run python3 "
                  f"ci/fidelity_docs.py", file=sys.stderr)
            return 1
        return 0
    if argv[1:]:
        print("usage: python3 ci/fidelity_docs.py [--check]", file=sys.stderr)
        return 2
    PAGE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
