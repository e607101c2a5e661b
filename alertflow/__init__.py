"""alertflow: the Alertflex SIEM/SOAR rebuilt on Prefect 3."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("alertflow")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
