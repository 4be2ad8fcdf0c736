"""Network clients for outside services (external RFC 3161 TSAs, ...), behind ports defined in the core."""

from __future__ import annotations

__all__: list[str] = []
