# The alertflow image: the `alertflow` and `prefect` commands with the pinned dependency set.
# docker-compose.yml runs every service of the multi-machine shape from it.
FROM python:3.11-slim-bookworm

# nmap for nmap_scan; openssh-client is not needed (asyncssh), kept out.
RUN apt-get update \
 && apt-get install -y --no-install-recommends nmap \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/alertflow --create-home alertflow

WORKDIR /opt/alertflow
COPY pyproject.toml constraints.txt README.md ./
COPY alertmodel ./alertmodel
COPY ingest ./ingest
COPY blocks ./blocks
COPY tasks ./tasks
COPY response ./response
COPY flows ./flows
COPY deployments ./deployments
COPY alertflow ./alertflow
COPY prefect.yaml ./
RUN pip install --no-cache-dir -c constraints.txt . \
 && python -c "import alertflow.cli.main, deployments.catalog"

USER alertflow
ENV ALERTFLOW_DATA_DIR=/var/lib/alertflow \
    PREFECT_HOME=/var/lib/alertflow/prefect \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    PYTHONUNBUFFERED=1
CMD ["alertflow", "--help"]
