"""What the machine offers: its physical memory, the budget that sizes are checked against."""

import os


def machine_memory() -> int | None:
    """The machine's physical memory in bytes, or None where the system does not report it."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
