# The TraceGraph API image: installs the package exactly as the README does (pip install .).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md hatch_build.py ./
COPY tracegraph ./tracegraph
COPY cypher ./cypher
COPY api ./api
COPY cli ./cli
RUN pip install --no-cache-dir . && useradd --create-home tracegraph
USER tracegraph
EXPOSE 8000
CMD ["tracegraph", "serve", "--host", "0.0.0.0", "--port", "8000"]
