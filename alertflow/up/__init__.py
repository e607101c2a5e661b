"""`alertflow up`: the whole product on one machine, as child processes of one supervisor.

`supervisor` starts, watches and stops the children; `settings` are its ports, limits and
listeners; `secret_files` keeps the API auth string and the ingest token in the private data
dir; `drop_directory` imports files dropped there; `prefect_server` runs a local Prefect
server; `prefect_address` tells every command where that server (or PREFECT_API_URL's) is;
`prefect_api` and `late_runs` are the few REST calls the supervisor makes itself; `demo`
holds the `--demo` data. Only `prefect_server`'s child process and the commands `up` starts
import Prefect: the supervisor stays small.
"""
