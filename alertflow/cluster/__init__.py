"""`alertflow cluster`: the scale-out topology of docker-compose.yml, run natively on one machine.

MariaDB holds the alerts; ActiveMQ feeds N competing ingest workers (each with its outbox
dispatcher); Prefect runs on PostgreSQL with several API servers (`--no-services`) behind
nginx, its background services in their own process and Redis for messaging; M Prefect
workers take the flow runs of a `process` work pool that prefect.yaml's deployments use; the
REST API and console serve HTTPS. Every part is its own process with its own log file.
"""
