# Production image: Debian 12 + Python 3.11, ffmpeg/libopus/espeak-ng from Debian, pinned Python deps.
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg libopus0 espeak-ng \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# Stateless: catalogs and audio come from S3 (S3_BUCKET, AWS_* env); metadata/ holds only caches.
ENV PYTHONUNBUFFERED=1
EXPOSE 8000 8003
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8003/health', timeout=2)" || exit 1
CMD ["python", "app.py", "serve"]
