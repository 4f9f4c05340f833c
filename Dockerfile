# syntax=docker/dockerfile:1
# Multi-stage: build a wheel with its dependencies, then copy only the installed
# packages into a slim runtime image that runs as an unprivileged user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ses_exporter ./ses_exporter
# The demo extra (moto) is included so `docker run IMAGE --demo` works out of the box.
RUN pip install --no-cache-dir --prefix=/install '.[demo]'

FROM python:3.11-slim
LABEL org.opencontainers.image.title="ses-exporter" \
      org.opencontainers.image.description="Prometheus exporter for Amazon SES" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /install /usr/local
RUN useradd --system --uid 10049 --no-create-home --shell /usr/sbin/nologin ses-exporter
USER 10049:10049
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
EXPOSE 10049
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:10049/-/healthy', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["ses-exporter"]
CMD ["--config.file=/etc/ses-exporter/config.yaml"]
