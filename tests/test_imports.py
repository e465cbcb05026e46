"""Every module of the package imports on its own, first, in a fresh interpreter: an import cycle shows only when
the module on it is the first one imported (the suite's own import order hid one between the matrix loader, the
backends and the Debian archive reader)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                 for p in (ROOT / "harness").rglob("*.py") if p.name != "__main__.py")


def test_every_module_imports_first():
    code = ("import importlib, subprocess, sys\n"
            "bad = []\n"
            "for m in sys.argv[1:]:\n"
            "    r = subprocess.run([sys.executable, '-c', f'import {m}'], capture_output=True, text=True)\n"
            "    if r.returncode:\n"
            "        bad.append(f'{m}: {r.stderr.strip().splitlines()[-1]}')\n"
            "print('\\n'.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code, *MODULES], capture_output=True, text=True, cwd=ROOT, check=True)
    assert len(MODULES) > 60 and out.stdout.strip() == "", out.stdout
