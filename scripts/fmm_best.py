"""Derive ``src/tensorgame/data/fmm_best.csv`` from the FastMatrixMultiplication
collection's ``status.json`` (A. Perminov, MIT licence), so that the package can show
the collection's best ranks without reading the collection at run time.

One row per format (n <= m <= p, as the collection lists them) and ring: ``ZT``
(coefficients in {-1, 0, 1}), ``Z``, ``Q``; the rank is the best valid in that ring
(a ZT scheme counts for Z and Q), the source the collection's file of a scheme that
reaches it (the first listed, looking in the ring's own list, then the narrower ones).

    python scripts/fmm_best.py [../shared/fmm] [-o src/tensorgame/data/fmm_best.csv]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RINGS = ("ZT", "Z", "Q")
#: Rings whose schemes also hold in the key ring (narrowest last is searched last).
NARROWER = {"ZT": ("ZT",), "Z": ("Z", "ZT"), "Q": ("Q", "Z", "ZT")}


def rows(status: dict) -> list[tuple[str, str, int, str]]:
    """(format, ring, rank, source) for every format and ring of ``status``."""
    out = []
    for fmt, info in status.items():
        for ring in RINGS:
            rank = info["ranks"].get(ring)
            if rank is None:
                continue
            schemes = [s for r in NARROWER[ring] for s in info["schemes"].get(r, [])]
            source = next((s["source"] for s in schemes if s["rank"] == rank), "")
            out.append((fmt, ring, int(rank), source))
    return out


def render(collection: Path) -> str:
    """The CSV text: the licence and provenance as ``#`` comments, then the rows."""
    raw = (collection / "status.json").read_bytes()
    licence = (collection / "LICENSE").read_text().strip().splitlines()
    header = [
        "Best known ranks of the FastMatrixMultiplication collection (A. Perminov,",
        "https://github.com/dronperminov/FastMatrixMultiplication), derived from its",
        f"status.json (sha256 {hashlib.sha256(raw).hexdigest()[:16]}) by scripts/fmm_best.py.",
        "ring: ZT = coefficients in {-1, 0, 1}, Z = integers, Q = rationals; source: the",
        "collection's file of a scheme reaching the rank. The data is used under the",
        "collection's licence:",
        "",
        *licence,
    ]
    buffer = io.StringIO()
    buffer.write("".join(f"# {line}".rstrip() + "\n" for line in header))
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("format", "ring", "rank", "source"))
    writer.writerows(rows(json.loads(raw)))
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("collection", nargs="?", type=Path, default=ROOT.parent / "shared" / "fmm",
                        help="folder holding status.json and LICENSE")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "src/tensorgame/data/fmm_best.csv")
    args = parser.parse_args()
    text = render(args.collection)
    args.output.write_text(text)
    print(f"wrote {text.count(chr(10)) - text.count(chr(10) + '#')} lines to {args.output}")


if __name__ == "__main__":
    main()
