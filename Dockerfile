# The portal's one image; the Procfile's three roles run from it (Kamal: config/deploy.yml).
#
#   docker build -t opsportal .
#   docker run IMAGE                      web: gunicorn (threaded workers), static files through whitenoise (the default)
#   docker run IMAGE worker               Celery worker (as many as you like, on any machine)
#   docker run IMAGE beat                 Celery beat (exactly one)
#   docker run IMAGE python manage.py migrate --noinput      anything else runs as given
#
# BASE_IMAGE is Docker Hub's debian:bookworm-slim by default (its python3 is 3.11, the project's
# version). `make image-check` builds FROM a local debootstrapped bookworm instead, without a registry.
# Only features of the classic builder are used, so BuildKit and the legacy builder build it alike.
ARG BASE_IMAGE=debian:bookworm-slim

# --- build: a virtualenv with the pinned production requirements, from PyPI -----------------
# production.txt alone, every pin with its hashes (`make requirements`): pip refuses any file whose
# hash differs and any dependency that is not pinned. `make test` installs the same file the same
# way into a venv of its own and runs the Procfile with it (tests/production/).
FROM ${BASE_IMAGE} AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates python3 python3-venv \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY requirements/ /tmp/requirements/
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --require-hashes \
        -r /tmp/requirements/production.txt

# --- runtime -----------------------------------------------------------------------------------
FROM ${BASE_IMAGE}
ARG DEBIAN_FRONTEND=noninteractive
# tzdata: quiet hours and feed times are read on named zones (Europe/Paris). openssh-client:
# ssh:// engines in WALLETOPS_DOCKER_HOSTS (the Docker client shells out to ssh).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates python3 tzdata openssh-client \
    && apt-get clean && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/opsportal --shell /usr/sbin/nologin opsportal \
    && install -d -o opsportal -g opsportal -m 0750 /var/lib/opsportal

# The entrypoint: a Procfile process name (web, worker, beat) runs that Procfile line, its ${VARS}
# expanded inside the container; anything else runs as given (kamal app exec, one-off commands).
# The healthcheck: in the web role, GET /api/ops/plannings over plain HTTP on loopback (exempt
# from the HTTPS redirect) with the x-ops-token and a Host from DJANGO_ALLOWED_HOSTS; it reads
# the database, so it fails when the portal cannot. Worker and beat containers have no HTTP
# server: they are healthy while their process runs (a dead process stops the container).
RUN printf '%s\n' \
        '#!/bin/sh' \
        'if [ "$#" -eq 1 ]; then' \
        '    while IFS= read -r entry; do' \
        '        case "$entry" in "$1: "*) exec /bin/sh -c "exec ${entry#"$1: "}" ;; esac' \
        '    done < /app/Procfile' \
        'fi' \
        'exec "$@"' \
        > /usr/local/bin/opsportal-entrypoint \
    && printf '%s\n' \
        '#!/usr/bin/python3' \
        'import glob, os, sys, urllib.request' \
        'def cmdline(path):' \
        '    try:' \
        '        return open(path, "rb").read()' \
        '    except OSError:' \
        '        return b""' \
        'if not any(b"gunicorn" in cmdline(path) for path in glob.glob("/proc/[0-9]*/cmdline")):' \
        '    sys.exit(0)' \
        'hosts = [h.strip().lstrip(".") for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",")]' \
        'host = next((h for h in hosts if h and h != "*"), "localhost")' \
        'url = "http://127.0.0.1:%s/api/ops/plannings" % (os.environ.get("PORT") or "8000")' \
        'headers = {"Host": host, "x-ops-token": os.environ.get("OPS_TOKEN", "")}' \
        'try:' \
        '    urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=4)' \
        'except Exception as error:' \
        '    sys.exit("unhealthy: %s" % error)' \
        > /usr/local/bin/opsportal-healthcheck \
    && chmod 0755 /usr/local/bin/opsportal-entrypoint /usr/local/bin/opsportal-healthcheck

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_ENV=production \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    OPSPORTAL_VAR_DIR=/var/lib/opsportal

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY . /app
# Static files are collected at build time with the production storage (hashed, compressed), and
# `check --deploy` gates the build. The throwaway key and host exist only for these two commands:
# production settings refuse to load without them, and the real ones arrive at run time.
RUN export DJANGO_SECRET_KEY="build-only-$(python -c 'import secrets; print(secrets.token_urlsafe(48))')" \
        DJANGO_ALLOWED_HOSTS=build.invalid OPSPORTAL_VAR_DIR=/tmp/build-var \
    && python manage.py check --deploy --fail-level WARNING \
    && python manage.py collectstatic --noinput --verbosity 0 \
    && rm -rf /tmp/build-var \
    && python -m compileall -q /app

USER opsportal
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["/usr/local/bin/opsportal-healthcheck"]
ENTRYPOINT ["/usr/local/bin/opsportal-entrypoint"]
CMD ["web"]
