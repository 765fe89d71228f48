"""``python -m zelda_core`` runs the CLI."""

from ._cli.main import main

raise SystemExit(main())
