# Sportello: one image for the API (`sportello serve`) and the worker (`sportello worker`).
# Build: docker build -t sportello .   Run it as docs/deploy.md describes (compose.yaml does).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A user of its own: the service never runs as root.
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/sportello sportello

# The source tree stays in place (the migrations are read from it).
WORKDIR /opt/sportello
COPY pyproject.toml README.md alembic.ini ./
COPY alembic ./alembic
COPY app ./app
RUN pip install --editable . && python -c "import app.main"

USER sportello
WORKDIR /var/lib/sportello
ENV SPORTELLO_OUTBOX_DIR=/var/lib/sportello/outbox \
    SPORTELLO_LOG_FORMAT=json
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
# Migrations run once, as their own step (`sportello migrate`), before the API starts.
CMD ["sportello", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-migrate"]
