"""``python -m zelda_core`` runs the CLI."""

from .cli.main import main

raise SystemExit(main())
