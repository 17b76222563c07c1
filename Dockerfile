FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# The services run as cnnlab (uid/gid 10001), not root. The folders the named volumes are
# mounted on belong to it, so new volumes start out owned by it too (Docker copies the owner).
RUN groupadd --system --gid 10001 cnnlab \
    && useradd --system --uid 10001 --gid cnnlab --create-home --home-dir /home/cnnlab cnnlab \
    && mkdir -p /var/lib/cnnlab /data \
    && chown cnnlab:cnnlab /var/lib/cnnlab /data
ENV PYTHONDONTWRITEBYTECODE=1
USER cnnlab
EXPOSE 8000
CMD ["python", "-m", "backend.cli.serve"]
