# syntax=docker/dockerfile:1
# storesim's service image: every component behind one entrypoint, the component as its argument
# (`storesim run pos`, `storesim topics create`, ...). Built from the repository root:
#   docker build -f images/service.Dockerfile -t storesim .
# The build stage installs the wheel and its constraints.txt pins into a venv; the final stage gets only
# that venv (without pip) on the same slim Python, and runs as a numeric non-root user so that
# Kubernetes can verify runAsNonRoot.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
RUN python -m venv /opt/storesim
COPY pyproject.toml constraints.txt README.md ./
COPY schemas ./schemas
COPY src ./src
COPY data-loader ./data-loader
RUN /opt/storesim/bin/pip install --no-cache-dir --disable-pip-version-check --constraint constraints.txt . \
    && /opt/storesim/bin/pip uninstall --yes pip

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="storesim" \
      org.opencontainers.image.description="storesim's simulators as services: storesim run <component>" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/storesim/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/storesim /opt/storesim
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin storesim
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["storesim"]
CMD ["--help"]
