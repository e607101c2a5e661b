"""`python -m alertflow` is the `alertflow` command."""

from alertflow.cli import main

main()
