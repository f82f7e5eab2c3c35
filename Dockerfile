FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
RUN pip install --no-cache-dir .
COPY . .
RUN DEBUG=1 python manage.py collectstatic --noinput
RUN useradd --create-home meridian
USER meridian
EXPOSE 8000
CMD ["gunicorn", "meridian.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
