"""The `alertflow` command line."""

from alertflow.cli.main import app, main

__all__ = ["app", "main"]
