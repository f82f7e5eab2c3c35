FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
RUN pip install --no-cache-dir . -c constraints.txt
COPY . .
RUN DEBUG=1 python manage.py collectstatic --noinput
RUN useradd --create-home meridian
USER meridian
EXPOSE 8000
# Worker class, count, threads, keep-alive: gunicorn.conf.py (README "Serving as in production");
# WEB_CONCURRENCY and GUNICORN_* override them.
CMD ["gunicorn", "--config", "gunicorn.conf.py", "meridian.wsgi:application"]
