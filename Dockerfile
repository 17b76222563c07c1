# Two images from one file (docker-compose.yml builds both):
#   target backend — the web side and migrations: requirements-backend.txt, no torch (the backend never
#                    imports it), a fraction of the worker's size;
#   target worker  — the training workers: requirements.txt, torch included (the default target).
FROM python:3.11-slim AS base
WORKDIR /app
# The services run as cnnlab (uid/gid 10001), not root. The folders the named volumes are
# mounted on belong to it, so new volumes start out owned by it too (Docker copies the owner).
RUN groupadd --system --gid 10001 cnnlab \
    && useradd --system --uid 10001 --gid cnnlab --create-home --home-dir /home/cnnlab cnnlab \
    && mkdir -p /var/lib/cnnlab /data \
    && chown cnnlab:cnnlab /var/lib/cnnlab /data
ENV PYTHONDONTWRITEBYTECODE=1

FROM base AS backend
COPY requirements-backend.txt .
RUN pip install --no-cache-dir -r requirements-backend.txt
COPY . .
USER cnnlab
EXPOSE 8000
CMD ["python", "-m", "backend.cli.serve"]

FROM base AS worker
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
USER cnnlab
CMD ["python", "-m", "worker.serve"]
