"""Status page publishing: a full rebuild of a page with 1,000 incidents and 30 components, then
an incremental publish after one update (objects written, time), in one run.

Records are stored through the service (without publishing each), then the page is published
from nothing (every file written), then once more unchanged (nothing written), then after one
update to an open incident (only the files that show it). Local mode: DynamoDB and S3 are the
moto server on loopback, so absolute times are slower than AWS; the ratios and counts are the
point.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

INCIDENTS = int(os.environ.get("BENCH_SP_INCIDENTS", "1000"))
COMPONENTS = 30
REPO = Path(__file__).resolve().parents[1]
#: an update rewrites the files that show it: index, its own page, the JSON that lists open
#: incidents or components, the feeds; never the other incidents' pages
TARGET_INCREMENTAL_WRITES = 20


def _config(into: Path) -> Path:
    config = into / "config"
    shutil.copytree(REPO / "config", config)
    names = [f"Component {n:02d}" for n in range(COMPONENTS)]
    data = {
        "status_pages": {
            "components": [
                {"name": name, "group": f"Group {n // 5}", "description": f"Part {n}"}
                for n, name in enumerate(names)
            ],
            "pages": [
                {"id": "public", "name": "Bench Status"},
                {
                    "id": "internal",
                    "name": "Bench Internal",
                    "visibility": "private",
                    "components": names[:3],
                },
            ],
        }
    }
    (config / "statuspage.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    services = yaml.safe_load((config / "services.yaml").read_text())
    for service in services["services"]:
        service["components"] = names[:2]
    (config / "services.yaml").write_text(yaml.safe_dump(services, sort_keys=False))
    return config


def _seed(service: Any, names: list[str], now: datetime) -> str:
    """INCIDENTS records over the last 120 days (90 shown), a few still open; returns one
    open incident's id."""
    from tocsin.domain.statuspage import ComponentStatus, Impact, IncidentStatus

    rng = random.Random(7)
    open_id = ""
    statuses = [ComponentStatus.DEGRADED_PERFORMANCE, ComponentStatus.PARTIAL_OUTAGE]
    statuses.append(ComponentStatus.MAJOR_OUTAGE)
    for n in range(INCIDENTS):
        started = now - timedelta(minutes=rng.randrange(10, 120 * 24 * 60))
        service.clock = lambda at=started: at
        affected = dict.fromkeys(rng.sample(names, rng.randint(1, 3)), rng.choice(statuses))
        record = service.open_incident(
            "public",
            name=f"Incident {n}: elevated errors",
            status=IncidentStatus.INVESTIGATING,
            body="We are investigating elevated error rates. " * 3,
            author="bench",
            impact=rng.choice([Impact.MINOR, Impact.MAJOR, Impact.CRITICAL]),
            components=affected,
            publish=False,
        )
        if n % 100 == 0:
            open_id = record.id
            continue
        service.clock = lambda at=started: at + timedelta(minutes=rng.randrange(5, 90))
        service.update(
            "public",
            record.id,
            status="resolved",
            body="This incident has been resolved.",
            author="bench",
            publish=False,
        )
    service.clock = lambda: datetime.now(UTC)
    return open_id


def run(local: Any) -> dict[str, bool]:
    from tocsin.handlers.container import container
    from tocsin_local.runtime import reset_runtime_caches

    before = os.environ.get("TOCSIN_CONFIG_DIR")
    tmp = Path(tempfile.mkdtemp(prefix="tocsin-bench-sp-"))
    os.environ["TOCSIN_CONFIG_DIR"] = str(_config(tmp))
    reset_runtime_caches()
    try:
        service = container().status_pages
        names = [c.name for c in service.pages_config.components]
        started = time.perf_counter()
        open_id = _seed(service, names, datetime.now(UTC))
        seeded = time.perf_counter() - started

        full = service.publish("public")
        again = service.publish("public")
        service.update(
            "public",
            open_id,
            status="identified",
            body="We found the cause.",
            author="bench",
            publish=False,
        )
        incremental = service.publish("public")
    finally:
        if before is None:
            os.environ.pop("TOCSIN_CONFIG_DIR", None)
        else:
            os.environ["TOCSIN_CONFIG_DIR"] = before
        reset_runtime_caches()
        shutil.rmtree(tmp, ignore_errors=True)

    total = full.unchanged + len(full.written)
    print(f"\n== status page: {INCIDENTS} incidents, {COMPONENTS} components, one page ==")
    print(f"  records stored (without publishing)   {seeded:8.1f} s")
    print(
        f"  full rebuild                          {full.seconds:8.2f} s   "
        f"{len(full.written)} objects written of {total}"
    )
    print(
        f"  unchanged republish                   {again.seconds:8.2f} s   "
        f"{len(again.written)} objects written"
    )
    print(
        f"  incremental (one update)              {incremental.seconds:8.2f} s   "
        f"{len(incremental.written)} objects written: {', '.join(sorted(incremental.written))}"
    )
    ratio = incremental.seconds / full.seconds if full.seconds else 0.0
    print(
        f"  incremental / full: time {ratio:.2f}x, objects "
        f"{len(incremental.written)}/{len(full.written)}"
    )
    ok = (
        full.published
        and incremental.published
        and len(again.written) == 0
        and 0 < len(incremental.written) <= TARGET_INCREMENTAL_WRITES
    )
    print(
        f"  target: unchanged writes 0, one update writes <= {TARGET_INCREMENTAL_WRITES} "
        f"objects: {'met' if ok else 'NOT met'}"
    )
    return {"status page incremental publish": ok}
