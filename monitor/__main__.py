"""`python -m monitor` entry point."""

from monitor.cli import main

raise SystemExit(main())
