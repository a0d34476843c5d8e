"""``python -m sevtriage`` runs the command line."""

from sevtriage.cli import main

main()
