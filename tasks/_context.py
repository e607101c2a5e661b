"""Where a task is running: inside a Prefect run (logger, artifacts) or called plainly (`.fn`)."""

from __future__ import annotations

import logging

from prefect.context import FlowRunContext, TaskRunContext
from prefect.logging import get_logger, get_run_logger


def in_run_context() -> bool:
    """True inside a flow or task run, where artifacts can be attached to the run."""
    return TaskRunContext.get() is not None or FlowRunContext.get() is not None


def run_logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The run logger inside a run, else the `alertflow.tasks` logger."""
    return get_run_logger() if in_run_context() else get_logger("alertflow.tasks")
