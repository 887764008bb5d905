"""The `tracegraph` command line (Typer): parses, calls `tracegraph` services, renders."""
