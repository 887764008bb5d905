"""The HTTP API (FastAPI): parses requests, calls `tracegraph` services, renders answers."""
