FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends gdal-bin libgdal32 libgeos-c1v5 \
    libproj25 gettext && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ocsge_web ocsge_web
COPY apps apps
COPY ocsge ocsge
# torch==2.13.0 from PyPI is the CUDA build: the same image serves the GPU worker.
RUN pip install --no-cache-dir -e .
COPY . .
RUN msgattrib --clear-fuzzy --empty locale/fr/LC_MESSAGES/django.po | msgen - | msgfmt --check -o locale/fr/LC_MESSAGES/django.mo - \
    && msgfmt --check -o locale/en/LC_MESSAGES/django.mo locale/en/LC_MESSAGES/django.po
ENV DJANGO_SETTINGS_MODULE=ocsge_web.settings STATIC_ROOT=/app/var/static
EXPOSE 8000
