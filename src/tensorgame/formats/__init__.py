"""Reading and writing schemes in the formats people exchange them in.

``json`` is the project's own format (one document or a list); a ``.json`` file may
also hold documents of the FastMatrixMultiplication collection, recognised by their
keys, and ``fmm`` writes that dialect. ``alphatensor`` is the npz files of Fawzi et al.
(both the upstream pickled layout and the pickle-free one), ``flipgraph`` the plain
text of Kauers–Moosbauer's flip-graph tools and expression files (``.exp``),
``maple`` their nested lists (``.m``), and ``slp`` a readable straight-line program
(write-only). Loaded schemes are verified exactly by default: a scheme file from
elsewhere is only trusted after the check.

The ring a file claims, unless the caller names one: for the text formats a
``-mod<p>`` at the end of the file name (Kauers–Moosbauer's naming; ``mod0`` means
characteristic zero), else a ``# ring`` comment; the JSON and npz formats' own
fields; else Z, or Q when a coefficient is fractional.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tensorgame.errors import FormatError, VerificationError
from tensorgame.formats.alphatensor_npz import read_alphatensor, write_alphatensor
from tensorgame.formats.flipgraph_text import read_flipgraph, write_flipgraph
from tensorgame.formats.json_format import read_json, write_collection_json, write_json
from tensorgame.formats.maple import read_maple, write_maple
from tensorgame.formats.slp import write_slp
from tensorgame.tensors.rings import Ring, parse_ring
from tensorgame.tensors.scheme import Scheme
from tensorgame.tensors.targets import Target

FORMATS = ("json", "fmm", "alphatensor", "flipgraph", "maple", "slp")

_EXTENSIONS = {
    ".json": "json", ".npz": "alphatensor", ".txt": "flipgraph", ".exp": "flipgraph",
    ".fg": "flipgraph", ".m": "maple", ".slp": "slp",
}
#: Extensions of the files that hold schemes (for reading a whole directory).
SCHEME_EXTENSIONS = tuple(ext for ext, fmt in _EXTENSIONS.items() if fmt != "slp")
_PRODUCT_LINE_RE = re.compile(r"^[-+(\d\s*]*[abc]\d")
_ASSIGNMENT_RE = re.compile(r"^[A-Za-z_]\w*\s*:=")
_MOD_SUFFIX_RE = re.compile(r"[-_]mod(\d{1,10})$", re.IGNORECASE)
_SNIFF_BYTES = 4096

__all__ = [
    "FORMATS", "SCHEME_EXTENSIONS", "detect_format", "holds_many", "read_scheme", "read_schemes",
    "write_scheme", "write_schemes",
]


def detect_format(path: str | Path) -> str:
    """The format of ``path`` from its extension, else from the first bytes of the file."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    unknown = f"{path}: cannot tell the format (extension {ext or 'none'!r}); pass one of {', '.join(FORMATS)}"
    try:
        with path.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError:
        raise FormatError(unknown) from None
    if head.startswith(b"PK\x03\x04"):
        return "alphatensor"
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    body = "".join(lines)
    if lines and _ASSIGNMENT_RE.match(lines[0]):
        return "maple"
    if body[:1] in ("{", "["):
        # Past the opening brackets a Maple list has a number, JSON a key (or nothing).
        first = body.lstrip("{[ \t")[:1]
        return "maple" if first.isdigit() or first in ("+", "-") else "json"
    if lines and _PRODUCT_LINE_RE.match(lines[0]):
        return "flipgraph"
    raise FormatError(unknown)


def read_schemes(
    path: str | Path,
    fmt: str | None = None,
    *,
    ring: Ring | str | None = None,
    target: Target | None = None,
    verify: bool = True,
) -> list[Scheme]:
    """All schemes in the file, each verified exactly in its ring unless ``verify=False``.

    ``ring`` overrides the ring stated in (or inferred from) the file; ``target`` picks
    the schemes of that target, and tells the flip-graph reader the format.
    """
    fmt = _resolve(path, fmt)
    ring = None if ring is None else parse_ring(ring)
    if fmt == "slp":
        raise FormatError(f"{path}: the slp format is write-only")
    if fmt in ("flipgraph", "maple") and ring is None:
        ring = _ring_from_name(path)
    if fmt == "flipgraph":
        schemes = read_flipgraph(path, ring, target)
    else:
        reader = {"json": read_json, "fmm": read_json, "maple": read_maple, "alphatensor": read_alphatensor}[fmt]
        schemes = reader(path, ring)
        if target is not None:
            schemes = [s for s in schemes if s.target.key == target.key]
            if not schemes:
                raise FormatError(f"{path}: no scheme for {target.name}")
    if verify:
        for index, scheme in enumerate(schemes):
            result = scheme.verify()
            if not result.ok:
                raise VerificationError(
                    f"{path}: scheme {index + 1} of {len(schemes)} ({scheme.target.name}, rank "
                    f"{scheme.rank}) is wrong over {result.ring} in {result.n_wrong} tensor entries",
                    result,
                )
    return schemes


def read_scheme(
    path: str | Path,
    fmt: str | None = None,
    *,
    ring: Ring | str | None = None,
    target: Target | None = None,
    verify: bool = True,
) -> Scheme:
    """The one scheme in the file (or the one for ``target``); several are an error."""
    schemes = read_schemes(path, fmt, ring=ring, target=target, verify=verify)
    if len(schemes) != 1:
        raise FormatError(
            f"{path}: holds {len(schemes)} schemes where one was expected (pass a target to pick one)"
        )
    return schemes[0]


def write_schemes(schemes: Iterable[Scheme], path: str | Path, fmt: str | None = None, *,
                  metas: Sequence[dict[str, Any]] | None = None) -> None:
    """Write the schemes atomically (a temporary file replaces ``path`` when complete);
    ``metas`` gives each scheme's metadata, as for :func:`write_scheme`."""
    schemes = list(schemes)
    metas = list(metas) if metas is not None else [{} for _ in schemes]
    if len(metas) != len(schemes):
        raise ValueError(f"{len(metas)} metadata dicts for {len(schemes)} schemes")
    _write(schemes, path, fmt, metas)


def write_scheme(scheme: Scheme, path: str | Path, fmt: str | None = None, **meta: Any) -> None:
    """Write one scheme; ``meta`` is stored by json, written as comments by the text
    formats and dropped by alphatensor and fmm, whose layouts have no place for it."""
    _write([scheme], path, fmt, [meta])


def _write(schemes: list[Scheme], path: str | Path, fmt: str | None, metas: list[dict[str, Any]]) -> None:
    fmt = _resolve(path, fmt)
    if not schemes:
        raise FormatError(f"{path}: no scheme to write")
    meta = metas[0] if len(metas) == 1 else {}  # the one-scheme formats refuse several
    if fmt == "json":
        write_json(schemes, path, metas)
    elif fmt == "fmm":
        write_collection_json(schemes, path)
    elif fmt == "alphatensor":
        write_alphatensor(schemes, path)
    elif fmt == "flipgraph":
        write_flipgraph(schemes, path, **meta)
    elif fmt == "maple":
        write_maple(schemes, path, **meta)
    else:
        write_slp(schemes, path, **meta)


def holds_many(fmt: str) -> bool:
    """Whether one file of ``fmt`` can hold several schemes (of one target)."""
    return fmt in ("json", "fmm")


def _ring_from_name(path: str | Path) -> Ring | None:
    """Z_p for a text file named ``...-mod<p>.exp``; None for ``mod0`` or no suffix."""
    match = _MOD_SUFFIX_RE.search(Path(path).stem)
    if match is None or int(match.group(1)) == 0:
        return None
    return parse_ring(f"Z{int(match.group(1))}")


def _resolve(path: str | Path, fmt: str | None) -> str:
    if fmt is None:
        return detect_format(path)
    if fmt not in FORMATS:
        raise FormatError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return fmt
