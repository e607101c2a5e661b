"""The console's configuration and operations pages, and each user's own settings."""

from __future__ import annotations

from fastapi import APIRouter

from alertflow.console.admin import configuration, operations, policies, settings

router = APIRouter(include_in_schema=False)
for module in (configuration, policies, operations, settings):
    router.include_router(module.router)
