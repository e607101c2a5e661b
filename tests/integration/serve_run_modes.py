"""Serve test deployments of `alert-digest` with short schedules (run by test_run_modes.py).

`python -m tests.integration.serve_run_modes TAG ONCE_IN_SECONDS`: the one-time run is due that
many seconds after the deployments are built, just before they are applied.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from prefect import serve
from prefect.deployments.runner import EntrypointType

from deployments.schedules import one_time, recurring_interval
from flows.alert_digest import alert_digest


def main() -> None:
    tag, once_in = sys.argv[1], float(sys.argv[2])
    once_at = datetime.now(UTC) + timedelta(seconds=once_in)
    serve(
        alert_digest.to_deployment(
            name=f"every-3s-{tag}",
            schedules=[recurring_interval(timedelta(seconds=3), parameters={"hours": 2})],
            entrypoint_type=EntrypointType.MODULE_PATH,
        ),
        alert_digest.to_deployment(
            name=f"once-{tag}",
            schedules=[one_time(once_at, parameters={"hours": 3})],
            entrypoint_type=EntrypointType.MODULE_PATH,
        ),
        alert_digest.to_deployment(name=f"on-demand-{tag}", entrypoint_type=EntrypointType.MODULE_PATH),
        limit=4,
    )


if __name__ == "__main__":
    main()
