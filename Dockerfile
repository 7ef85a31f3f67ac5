# servechain's container image: `docker build -t servechain .`, then see compose.yaml and the
# README's "Running in production". No secret is baked in: tokens, signing secrets and the
# database password come from the environment at run time.
ARG PYTHON_VERSION=3.11

# Stage 1: build servechain's wheel and the wheels of everything it depends on.
FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Stage 2: install the wheels (no compiler, no source tree) and run as an unprivileged user.
FROM python:${PYTHON_VERSION}-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/servechain-*.whl \
    && useradd --create-home --uid 10001 --user-group servechain \
    && mkdir /data \
    && chown servechain:servechain /data
USER 10001:10001
WORKDIR /data
# The embedded store by default; set SERVECHAIN_DB=postgresql://... for more than one replica.
ENV SERVECHAIN_DB=/data/servechain.json \
    HOST=0.0.0.0 \
    PORT=3000
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]
CMD ["servechain", "serve"]
