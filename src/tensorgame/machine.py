"""What this machine has, for the size checks made before anything large is allocated
(networks, flip walkers, tuning inputs). Torch-free, so every layer may ask."""

from __future__ import annotations

import os

#: Assumed when the platform reports no memory size.
_FALLBACK_MEMORY = 8 << 30


def physical_memory_bytes() -> int:
    """This machine's physical memory (sysconf, else /proc/meminfo, else 8 GiB)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return _FALLBACK_MEMORY
