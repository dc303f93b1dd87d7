"""Session set-up shared by every test, notebooks included."""

import os
import sys
from pathlib import Path


def pytest_configure(config):
    # Kernels started by nbval and nbgrader, and nbgrader's `alembic`, must
    # come from this environment even when it is not activated.
    scripts = str(Path(sys.executable).parent)
    os.environ["PATH"] = os.pathsep.join([scripts, os.environ.get("PATH", "")])
    # On a fresh machine matplotlib builds its font cache on first import
    # and says so on stderr, which nbval would count as a changed output.
    # Build it here, once, before any notebook kernel starts.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.font_manager  # noqa: F401
