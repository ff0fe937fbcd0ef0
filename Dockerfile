# slice-apiserver image. The default (last) stage runs the API server; the `load` stage adds Locust
# for docker-compose's `load` profile.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY apiserver ./apiserver
COPY storage ./storage
COPY loadtest ./loadtest
RUN pip install . && useradd --system --uid 10001 --no-create-home apiserver

FROM base AS load
RUN pip install ".[loadtest]"
USER apiserver

FROM base AS apiserver
USER apiserver
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s --retries=12 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2)"]
ENTRYPOINT ["slice-apiserver"]
CMD ["--bind-address", "0.0.0.0", "--insecure-allow-remote", "--port", "8080", "--kubeconfig", ""]
