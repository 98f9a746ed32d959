# The streamapp worker image: the same `streamapp worker` that runs on a laptop, configured only
# by STREAMAPP_* environment variables (see .env.example).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streamapp ./streamapp
COPY topologies ./topologies
RUN pip install --no-cache-dir .
ENV STREAMAPP_DATA_DIR=/var/lib/streamapp \
    STREAMAPP_WEB_HOST=0.0.0.0 \
    STREAMAPP_TOPOLOGIES_DIR=/app/topologies
EXPOSE 6066
CMD ["streamapp", "worker", "-l", "info"]
