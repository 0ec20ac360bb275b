"""What a worker or client process needs around the cases: settings, logging, the namespace check.

Not activities (they are effects of cases) and not workflow code: the process's own set-up.
"""

from service.logs import configure_logging, log_formatter
from service.namespace import StartRefused, ensure_search_attributes
from service.settings import POLICY_DIR, Settings, connect_client, project_home

__all__ = [
    "POLICY_DIR",
    "Settings",
    "StartRefused",
    "configure_logging",
    "connect_client",
    "ensure_search_attributes",
    "log_formatter",
    "project_home",
]
