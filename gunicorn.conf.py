"""Gunicorn as Meridian is served in production (Dockerfile, docker-compose.yml, `make bench`).

Chosen by measurement on the 1M benchmark (README "Serving as in production"): threaded sync
workers (gthread), one process per core, four threads each. Per request, gthread and sync
workers cost the same CPU; threads keep a short request from queueing behind a slow one (a
360° of a big group) while that one waits on PostgreSQL. An ASGI server (uvicorn workers) cost
30-50 % more CPU per request: every view is synchronous and hops to a thread. More processes
than cores only add memory. Every value can be overridden by the environment (or by gunicorn's
own command-line options, which win over this file).
"""

import os


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
# WEB_CONCURRENCY is the conventional name platforms set; default one worker per core.
workers = _int("WEB_CONCURRENCY", os.cpu_count() or 2)
threads = _int("GUNICORN_THREADS", 4)
# Browsers and the API clients reuse connections; behind a proxy, keep this above the proxy's
# own idle timeout to the upstream so the proxy never writes into a closing socket.
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# The longest legitimate request is an export's first byte or an import upload: well under this.
timeout = _int("GUNICORN_TIMEOUT", 120)
graceful_timeout = 30
# A slow leak in a dependency cannot grow a worker without bound; the jitter keeps the workers
# from restarting at the same moment.
max_requests = _int("GUNICORN_MAX_REQUESTS", 5000)
max_requests_jitter = 500
# Each worker's heartbeat is a file it touches (fchmod) on every loop of its main thread; on a
# disk-backed /tmp that was a visible share of a served worker's samples (WorkerTmp.notify).
# In memory where the system has it (Linux; Docker mounts /dev/shm), gunicorn's default else.
# gunicorn makes the file with mkstemp (unique name, O_EXCL) and unlinks it at once: a shared
# directory is safe for it.
_SHM = "/dev/shm"  # noqa: S108
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR") or (
    _SHM if os.path.isdir(_SHM) and os.access(_SHM, os.W_OK) else None
)
# Health checks and access lines go to stdout, where the container runtime collects them.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
