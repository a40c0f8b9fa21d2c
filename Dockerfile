# SocialFlow application image: one image for web (Daphne), Celery workers, beat and
# the migrate job; docker-compose.yml picks the process with `command`.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# ffmpeg: the transcode worker runs it, under a seccomp filter (libseccomp2). tini: PID 1 that forwards signals and reaps
# FFmpeg children. psycopg[binary] and Pillow wheels bundle their C libraries;
# libpq5 is only a fallback for psycopg on a platform without a binary wheel.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg libpq5 libseccomp2 tini \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .

# Static files are built into the image (WhiteNoise serves them with hashed names).
# The settings need a secret and a database URL to import; these values exist only
# for this step and are not kept in the image's environment.
RUN DEBUG=false \
    SECRET_KEY=build-only-dummy \
    DATABASE_URL=sqlite:////tmp/build.sqlite3 \
    MEDIA_HOOK_SECRET=build-only-dummy \
    python manage.py collectstatic --noinput \
    && rm -f /tmp/build.sqlite3

# Run as an unprivileged user. The code stays root-owned (read-only to the app);
# only the local media and runtime directories are writable.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/app app \
    && mkdir -p /app/media /app/var \
    && chown app:app /app/media /app/var
USER app

EXPOSE 8000

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["python", "-m", "socialflow.web", "--bind", "0.0.0.0", "--port", "8000"]
