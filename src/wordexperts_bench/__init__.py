"""The experiments beside the library: peers, the paper's reproductions, benchmarks.

Every function here computes and returns data; the commands in :mod:`.cli` print it and write
reports through :func:`wordexperts.reporting.write_report`. See docs/architecture.md.
"""

import os
import platform


def machine() -> dict[str, str]:
    """Where a timing was measured: ``{"torch": version, "machine": "x86_64, 2 cores"}``."""
    import torch

    return {"torch": torch.__version__, "machine": f"{platform.machine()}, {os.cpu_count()} cores"}
