"""The REST API (FastAPI) served by `alertflow api`: alerts, incidents, users and the audit log."""
