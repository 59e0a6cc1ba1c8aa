# hitl: one image for the web app, the Celery worker and Celery beat (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# pg_dump and pg_restore for `manage.py backup` / `restore` (bin/backup, bin/restore).
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*

# Dependencies and the packages first, so a change in templates/static alone reuses this layer.
COPY pyproject.toml ./
COPY hitl ./hitl
COPY accounts ./accounts
COPY tasks ./tasks
COPY annotations ./annotations
COPY models_registry ./models_registry
RUN pip install . && rm -rf build *.egg-info

# The rest of the tree: manage.py, templates/ and static/. settings.BASE_DIR is the folder above
# hitl/, and templates/ and static/ are not package data, so the app runs from this source tree
# (PYTHONPATH) rather than from the copy pip put in site-packages.
COPY . .

# Writable state lives outside the code: the media volume (uploads, import files, model
# artifacts) and the collected static files. Named volumes mounted here take this ownership.
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home --shell /usr/sbin/nologin hitl \
    && mkdir -p /var/lib/hitl/media /var/lib/hitl/static \
    && chown -R hitl:hitl /var/lib/hitl

ENV PYTHONPATH=/app \
    DJANGO_SETTINGS_MODULE=hitl.settings \
    HITL_VAR_DIR=/var/lib/hitl \
    MEDIA_ROOT=/var/lib/hitl/media \
    STATIC_ROOT=/var/lib/hitl/static \
    DEBUG=0

USER hitl
EXPOSE 8000

# granian: the HTTP server (Rust) calls the WSGI app from WEB_THREADS threads in each of WEB_CONCURRENCY processes.
CMD ["sh", "-c", "exec granian --interface wsgi --host 0.0.0.0 --port 8000 --workers ${WEB_CONCURRENCY:-2} \
--blocking-threads ${WEB_THREADS:-4} --no-ws --access-log hitl.wsgi:application"]
