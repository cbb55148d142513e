"""Real PDFs nobody here wrote: the R manuals of Debian's `r-doc-pdf` package (about 3,100 pages:
an introduction, a FAQ, the language definition, internals, administration, data import, extensions
and the reference manual), fetched once with `apt-get download` into `.tools/r-doc-pdf`."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from benchmarks.common import ROOT

CACHE = ROOT / ".tools" / "r-doc-pdf"
PACKAGE = "r-doc-pdf"


def r_manuals() -> Path:
    """The folder holding the manuals' PDFs (each once), fetched on first use. Raises
    `RuntimeError` saying what to do when apt cannot fetch the package."""
    manuals = CACHE / "manual"
    if any(manuals.glob("*.pdf")):
        return manuals
    with tempfile.TemporaryDirectory(prefix="memex-rdoc-") as tmp:
        fetched = subprocess.run(["apt-get", "download", PACKAGE], cwd=tmp, capture_output=True, text=True)
        debs = list(Path(tmp).glob(f"{PACKAGE}_*.deb"))
        if fetched.returncode != 0 or not debs:
            raise RuntimeError(
                f"could not fetch Debian's {PACKAGE} with apt-get download ({fetched.stderr.strip()[-200:]}); "
                f"run `apt-get update`, or put the R manuals' PDFs in {manuals}"
            )
        unpacked = Path(tmp) / "x"
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(unpacked)], check=True)
        found = sorted(unpacked.glob(f"usr/share/doc/{PACKAGE}/manual/*.pdf"))
        manuals.mkdir(parents=True, exist_ok=True)
        for pdf in found:
            # The package also installs `fullrefman.pdf`, the reference manual again.
            shutil.copyfile(pdf.resolve(), manuals / pdf.name)
    return manuals
