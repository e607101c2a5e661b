"""`python -m deployments.serve`: serve every deployment of the catalog from this process.

Each flow run is a subprocess of this one; `alertflow up` starts it with
PREFECT_RUNNER_POLL_FREQUENCY=1 so a created run starts within ~2 s. `--names` prints the
names of the deployments it would serve (`flow/deployment`, a JSON list) and exits: `up`'s
supervisor waits for those without importing Prefect itself.

Prefect's telemetry is turned off before Prefect is imported; the flow runs inherit it.
"""

from __future__ import annotations

import argparse
import json
import os


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    parser = argparse.ArgumentParser(prog="python -m deployments.serve", description=__doc__)
    parser.add_argument("--limit", type=int, default=4, help="flow runs at once (each is a ~90 MB process)")
    parser.add_argument("--names", action="store_true", help="print the deployment names as JSON and exit")
    args = parser.parse_args(argv)

    from prefect import serve

    from deployments.catalog import all_deployments

    deployments = all_deployments()
    if args.names:
        print(json.dumps(sorted(f"{d.flow_name}/{d.name}" for d in deployments)))
        return
    serve(*deployments, limit=args.limit, print_starting_message=True)


if __name__ == "__main__":
    main()
