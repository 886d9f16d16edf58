# syntax=docker/dockerfile:1
# storesim's data-loader image: the data set built at image build time (`storesim-data-loader build`) in
# /opt/storesim-data, and the Postgres loader (`storesim-data-loader load-postgres --data
# /opt/storesim-data`). The chart runs it as the init container that copies the parquet files into the
# simulators' /data, and in the setup Job that loads the daily discounts. Built from the repository root:
#   docker build -f images/data-loader.Dockerfile -t storesim-data-loader .
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
RUN python -m venv /opt/storesim
COPY pyproject.toml constraints.txt README.md ./
COPY schemas ./schemas
COPY src ./src
COPY data-loader ./data-loader
RUN /opt/storesim/bin/pip install --no-cache-dir --disable-pip-version-check --constraint constraints.txt . \
    && /opt/storesim/bin/pip uninstall --yes pip \
    && /opt/storesim/bin/storesim-data-loader build --out /opt/storesim-data

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="storesim-data-loader" \
      org.opencontainers.image.description="storesim's parquet files and Postgres loader" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/storesim/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/storesim /opt/storesim
COPY --from=build /opt/storesim-data /opt/storesim-data
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin storesim
USER 10001:10001
ENTRYPOINT ["storesim-data-loader"]
CMD ["--help"]
