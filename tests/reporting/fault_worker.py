"""A Celery app for the worker-fault test: the real app, with the first export made to hang
mid-way (after claiming the export and opening its file) so the test can SIGKILL the worker
there. Later deliveries run normally. Test-only: production code has no such hook."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from celery.signals import task_prerun

from meridian.celery import app

__all__ = ["app"]


@task_prerun.connect
def _hang_first_export(sender: Any = None, **kwargs: Any) -> None:
    from reporting import exports

    if getattr(exports, "_fault_installed", False):
        return
    original = exports.write_report
    marker = Path(os.environ["FAULT_MARKER"])

    def write_then_hang(**kw: Any) -> int:
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            kw["path"].write_text("half a report")  # a partial file the retry must replace
            time.sleep(600)  # SIGKILL arrives here
        return original(**kw)

    exports.write_report = write_then_hang
    exports._fault_installed = True
