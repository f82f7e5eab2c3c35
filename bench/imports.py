"""The opportunity import at scale (issue 20): a 100,000-row opportunity file against the 1M
benchmark's accounts, products and owners, dry run and commit in this process as the importing
user (the application role, row-level security on), printing wall time, CPU time and peak RSS.

The file is what a country's old CRM gives: external id, account (by name), deal name, company,
owner (e-mail), stage (the company's local name), amount, currency, expected close date (day
first), product SKU and quantity; one row per deal. Accounts are those the user sees whose name
is unique among them (an ambiguous name is an error row by design, not what is measured).

Each phase runs in its own process (``ru_maxrss`` is the process's peak), on a writable copy of
the benchmark (the commit writes 100,000 deals):

    DATABASE_URL=postgres://meridian_app@127.0.0.1:5432/meridian_bench_1m_imp \\
        python -m bench.imports generate --rows 100000 --out /tmp/opps.csv
    ... python -m bench.imports dry --file /tmp/opps.csv          # prints the job id
    ... python -m bench.imports commit --job <id>

``--profile FILE`` writes the phase's top functions (cProfile, cumulative) to FILE.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import resource
import sys
import time
from typing import Any

EMAIL = "manager.se@bench.example"


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meridian.settings")
    import django

    django.setup()


def generate(email: str, rows: int, out: str, seed: int) -> dict[str, Any]:
    from django.db.models import Count

    from accounts.models import Account
    from bench.inproc import _user_by_email
    from crm.models import User
    from crm.scope import org_scope
    from opportunities.models import Product
    from pipeline.models import LocalStage

    rng = random.Random(seed)
    user = _user_by_email(email)
    org_id = user.organization_id
    with org_scope(org_id):
        company = user.sales_company
        assert company is not None, "The importing user books in a company."
        visible = Account.objects.visible_to(user)
        unique = (
            visible.values("normalized_name")
            .annotate(n=Count("id"))
            .filter(n=1)
            .values_list("normalized_name", flat=True)
        )
        names = list(
            visible.filter(normalized_name__in=unique).order_by("pk").values_list("name", flat=True)
        )
        owners = list(
            User.objects.for_org(org_id)
            .filter(sales_company=company, is_active=True)
            .order_by("pk")
            .values_list("email", flat=True)
        )
        stages = list(
            LocalStage.objects.for_org(org_id)
            .filter(
                process__sales_company=company,
                global_stage__is_won=False,
                global_stage__is_lost=False,
            )
            .order_by("order")
            .values_list("name", flat=True)
        )
        skus = list(
            Product.objects.for_org(org_id)
            .filter(is_active=True)
            .order_by("pk")
            .values_list("sku", flat=True)
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(
        ["ID", "Kund", "Affär", "Bolag", "Säljare", "Steg", "Belopp", "Valuta",
         "Stängningsdatum", "Artikelnummer", "Antal"]
    )  # fmt: skip
    run = rng.randrange(10**6)
    for i in range(rows):
        day, month = rng.randint(1, 28), rng.randint(1, 12)
        writer.writerow(
            [
                f"OLD-{run}-{i}",
                rng.choice(names),
                f"Imported deal {i}",
                company.code,
                rng.choice(owners),
                rng.choice(stages),
                f"{rng.randint(1_000, 500_000)},00",
                company.currency,
                f"{day:02d}.{month:02d}.2027",
                rng.choice(skus),
                rng.randint(1, 20),
            ]
        )
    data = buffer.getvalue().encode("utf-8")
    with open(out, "wb") as f:
        f.write(data)
    return {
        "file": out,
        "rows": rows,
        "bytes": len(data),
        "accounts": len(names),
        "owners": len(owners),
        "stages": len(stages),
        "products": len(skus),
    }


def _measured(run: Any, profile: str | None) -> dict[str, Any]:
    started_cpu, started = time.process_time(), time.perf_counter()
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        result = profiler.runcall(run)
        with open(profile, "w") as f:
            pstats.Stats(profiler, stream=f).sort_stats("cumulative").print_stats(45)
    else:
        result = run()
    return {
        "result": result,
        "wall_s": round(time.perf_counter() - started, 1),
        "cpu_s": round(time.process_time() - started_cpu, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def upload(email: str, path: str) -> dict[str, Any]:
    """The upload and mapping of ``dry``, as the web request does them: the job's id."""
    from bench.inproc import _user_by_email
    from crm.scope import org_scope
    from imports import services
    from imports.models import ImportJob, ImportKind, ImportStatus

    user = _user_by_email(email)
    org_id = user.organization_id
    with open(path, "rb") as f:
        content = f.read()
    with org_scope(org_id):
        job = services.import_job_create(
            user=user, kind=ImportKind.OPPORTUNITIES, file_name=os.path.basename(path),
            content=content,
        )  # fmt: skip
        fields = ["external_id", "account", "name", "sales_company", "owner", "stage",
                  "amount", "currency", "expected_close_date", "product", "quantity"]  # fmt: skip
        services.import_job_set_mapping(
            job=job, user=user, mapping={str(i): name for i, name in enumerate(fields)}
        )
        # What import_request_dry_run does before it queues the task; the task's body is run
        # by ``dry``, in its own process, to be measured.
        ImportJob.objects.for_org(org_id).filter(pk=job.pk).update(status=ImportStatus.DRY_RUN)
    return {"job": job.pk}


def dry(email: str, path: str, profile: str | None) -> dict[str, Any]:
    import subprocess

    from bench.inproc import _user_by_email
    from crm.scope import org_scope
    from imports import services
    from imports.models import ImportJob

    # The upload in another process, as a web request is: a worker's dry run never parsed the
    # file for the upload nor held its bytes (at 100,000 rows that parse's 60 MB, once freed,
    # stayed in this process's peak). Its wall time is reported beside the measured dry run.
    started = time.perf_counter()
    uploaded = subprocess.run(
        [sys.executable, "-m", "bench.imports", "upload", "--email", email, "--file", path],
        check=True,
        capture_output=True,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    upload_wall_s = round(time.perf_counter() - started, 1)
    job_id = int(json.loads(uploaded.stdout.strip().splitlines()[-1])["job"])
    org_id = _user_by_email(email).organization_id
    measured = _measured(
        lambda: services.import_run(job_id=job_id, organization_id=org_id, commit=False), profile
    )
    with org_scope(org_id):
        job = ImportJob.objects.for_org(org_id).defer("content").get(pk=job_id)
    return {
        "phase": "dry run",
        "job": job.pk,
        "status": job.status,
        "rows": job.total_rows,
        "created": job.created_count,
        "updated": job.updated_count,
        "skipped": job.skipped_count,
        "rejected": job.error_count,
        "upload_wall_s": upload_wall_s,  # another process: not in wall_s, cpu_s, peak RSS
        **{k: v for k, v in measured.items() if k != "result"},
    }


def commit(email: str, job_id: int, profile: str | None) -> dict[str, Any]:
    from bench.inproc import _user_by_email
    from crm.scope import org_scope
    from imports import services
    from imports.models import ImportJob, ImportStatus
    from opportunities.models import Opportunity

    user = _user_by_email(email)
    org_id = user.organization_id
    with org_scope(org_id):
        job = ImportJob.objects.for_org(org_id).defer("content").get(pk=job_id)
        assert job.status == ImportStatus.READY, job.status
        ImportJob.objects.for_org(org_id).filter(pk=job.pk).update(status=ImportStatus.RUNNING)
        before = Opportunity.objects.for_org(org_id).count()
    after_commit = _time_duplicates_check()
    measured = _measured(
        lambda: services.import_run(job_id=job.pk, organization_id=org_id, commit=True), profile
    )
    with org_scope(org_id):
        job.refresh_from_db()
        after = Opportunity.objects.for_org(org_id).count()
    return {
        "phase": "commit",
        "job": job.pk,
        "status": job.status,
        "message": job.message,
        "created": job.created_count,
        "opportunities_before": before,
        "opportunities_after": after,
        **{k: v for k, v in measured.items() if k != "result"},
        # Without REDIS_URL the tasks a commit queues run in this process once it commits:
        # the accounts' duplicates check (a worker's job in production) is part of the times
        # above; this is its share.
        "of_which_duplicates_task": {k: round(v, 1) for k, v in after_commit.items()},
    }


def _time_duplicates_check() -> dict[str, float]:
    """Wrap the duplicates check the commit queues, to report its share of the phase."""
    from opportunities import conflicts

    spent = {"wall_s": 0.0, "cpu_s": 0.0, "accounts": 0.0}
    check = conflicts.check_duplicates

    def timed(organization_id: int, account_ids: Any) -> list[int]:
        account_ids = list(account_ids)
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            return check(organization_id, account_ids)
        finally:
            spent["wall_s"] += time.perf_counter() - wall
            spent["cpu_s"] += time.process_time() - cpu
            spent["accounts"] += len(account_ids)

    conflicts.check_duplicates = timed  # type: ignore[assignment]
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phase", choices=["generate", "upload", "dry", "commit"])
    parser.add_argument("--email", default=EMAIL)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--out", default="/tmp/meridian-import-100k.csv")
    parser.add_argument("--file", default="/tmp/meridian-import-100k.csv")
    parser.add_argument("--job", type=int)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--profile")
    args = parser.parse_args()
    _setup()
    if args.phase == "generate":
        out = generate(args.email, args.rows, args.out, args.seed)
    elif args.phase == "upload":
        out = upload(args.email, args.file)
    elif args.phase == "dry":
        out = dry(args.email, args.file, args.profile)
    else:
        if args.job is None:
            sys.exit("commit needs --job (the dry run's job id)")
        out = commit(args.email, args.job, args.profile)
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
