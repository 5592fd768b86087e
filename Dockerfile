# Image for the web, worker and beat services of docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml ./
COPY resistance_atlas ./resistance_atlas
COPY curation ./curation
RUN pip install .

COPY . .
RUN DJANGO_DEBUG=false DJANGO_SECRET_KEY=collectstatic-only-not-a-secret-collectstatic-only-0123456789 \
    DJANGO_ALLOWED_HOSTS=localhost DATABASE_URL=postgres://build@localhost/build NCBI_EMAIL=build@localhost python manage.py collectstatic --noinput

RUN useradd --create-home atlas && mkdir -p /app/var && chown atlas /app/var
USER atlas
EXPOSE 8000
CMD ["gunicorn", "resistance_atlas.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
