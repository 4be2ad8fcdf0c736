"""Replace one marked section of docs/benchmarks.md (shared by the trust-list and QR benches)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["write_section"]

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def write_section(area: str, title: str, body: str) -> None:
    """Put ``body`` between ``<!-- BEGIN area -->`` and ``<!-- END area -->`` (appended under ``## title``)."""
    begin, end = f"<!-- BEGIN {area} -->", f"<!-- END {area} -->"
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + f"\n\n## {title}\n\n{block}\n"
    DOC.write_text(text, encoding="utf-8")
