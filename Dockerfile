# pbx-bridge beside a PBX: the bridge only (Asterisk runs on the host or in its own container).
#   docker build -t pbx-bridge .
#   docker run --rm -v /etc/pbx-bridge:/etc/pbx-bridge:ro pbx-bridge check /etc/pbx-bridge/pbx.yaml
# Secrets reach it as environment variables (env:NAME) or mounted files (file:/run/secrets/...).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# sox converts greetings to a format Asterisk plays; nothing else is needed at run time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends sox \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/pbx-bridge
COPY pyproject.toml README.md ./
COPY pbx_bridge ./pbx_bridge
RUN pip install . && rm -rf /opt/pbx-bridge/build

COPY config /etc/pbx-bridge/examples
RUN useradd --system --home-dir /var/lib/pbx-bridge --create-home pbx-bridge
USER pbx-bridge
WORKDIR /var/lib/pbx-bridge

ENTRYPOINT ["pbx-bridge"]
CMD ["check", "/etc/pbx-bridge/examples/example.yaml"]
