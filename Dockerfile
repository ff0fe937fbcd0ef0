# slice-apiserver images, one stage each: `apiserver` (the default, last), `load` (adds Locust, for
# docker-compose's `load` profile) and `etcd` (the pinned etcd release's binary, with the same healthcheck
# executable as the others). Both sources are build arguments, so the same file builds where no registry is
# reachable: scripts/build-local-images makes local images for them from Debian's packages. Dependencies are
# installed before the source is copied, so a source change rebuilds only the package's own layers.
ARG PYTHON_IMAGE=python:3.11-slim
ARG ETCD_IMAGE=quay.io/coreos/etcd:v3.6.16

FROM ${ETCD_IMAGE} AS etcd-release

FROM ${PYTHON_IMAGE} AS python
LABEL org.opencontainers.image.title=slice-apiserver
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN useradd --system --uid 10001 --no-create-home apiserver
COPY pyproject.toml ./
RUN python -c 'import tomllib; project = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
      print(*project["dependencies"], sep="\n")' >/tmp/requirements.txt && pip install -r /tmp/requirements.txt

FROM python AS base
COPY README.md ./
COPY apiserver ./apiserver
COPY storage ./storage
COPY loadtest ./loadtest
RUN pip install --no-deps .

FROM base AS etcd
COPY --from=etcd-release /usr/local/bin/etcd /usr/local/bin/etcd
EXPOSE 2379
HEALTHCHECK --interval=2s --timeout=3s --retries=30 CMD ["slice-apiserver-probe", "http://127.0.0.1:2379/health"]
ENTRYPOINT ["etcd"]

FROM python AS load
RUN python -c 'import tomllib; project = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
      print(*project["optional-dependencies"]["loadtest"], sep="\n")' >/tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt
COPY --from=base /app /app
RUN pip install --no-deps .
USER apiserver

FROM base AS apiserver
USER apiserver
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s --retries=12 CMD ["slice-apiserver-probe"]
ENTRYPOINT ["slice-apiserver"]
CMD ["--bind-address", "0.0.0.0", "--insecure-allow-remote", "--port", "8080", "--kubeconfig", ""]
