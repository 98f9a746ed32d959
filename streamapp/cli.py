"""The ``streamapp`` command: the Faust app's own CLI plus the project's commands.

``streamapp worker`` is ``faust -A streamapp.app worker`` (on uvloop unless ``FAUST_LOOP`` says
otherwise); ``streamapp broker start|stop|status`` and the other project commands are added with
``@app.command`` in ``streamapp/commands.py``. A wrong setting, or a wrong aggregate declaration in
``topologies/``, stops here with one line naming the variable (or the file and the field), before
anything starts.
"""

from __future__ import annotations

import os
import sys

from streamapp.errors import ConfigurationError, TopologyError


def main() -> None:
    """Entry point of the ``streamapp`` console script."""
    # faust reads the loop choice at import time: choose it before the first faust import.
    os.environ.setdefault("FAUST_LOOP", "uvloop")
    try:
        from streamapp.app import app
    except ConfigurationError as exc:
        print(f"streamapp: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except TopologyError as exc:
        print(f"streamapp: topology error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    from streamapp import commands

    commands.install(app)
    app.main()
