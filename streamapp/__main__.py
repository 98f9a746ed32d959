"""``python -m streamapp`` is the ``streamapp`` command."""

from streamapp.cli import main

main()
