"""`python -m deployments.serve`: serve every deployment of the catalog from this process.

Each flow run is a subprocess of this one; `alertflow up` starts it with
PREFECT_RUNNER_POLL_FREQUENCY=1 so a created run starts within ~2 s.
"""

from __future__ import annotations

import argparse

from prefect import serve

from deployments.catalog import all_deployments


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deployments.serve", description=__doc__)
    parser.add_argument("--limit", type=int, default=4, help="flow runs at once (each is a ~90 MB process)")
    args = parser.parse_args(argv)
    serve(*all_deployments(), limit=args.limit, print_starting_message=True)


if __name__ == "__main__":
    main()
