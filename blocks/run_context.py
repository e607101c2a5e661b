"""Where code is running: inside a Prefect flow or task run, or called plainly (a task's `.fn`)."""

from __future__ import annotations

import logging

from prefect.context import FlowRunContext, TaskRunContext
from prefect.logging import get_run_logger


def in_run_context() -> bool:
    """True inside a flow or task run, where logs and artifacts are attached to the run."""
    return TaskRunContext.get() is not None or FlowRunContext.get() is not None


def run_logger(fallback: str = "alertflow.tasks") -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The Prefect run logger inside a run, else the standard logger named `fallback`."""
    return get_run_logger() if in_run_context() else logging.getLogger(fallback)
