"""Demo data bundled with alertflow (`alertflow up --demo`): events and a response profile.

The events are written for alertflow (Apache-2.0 like the rest of it), in the shapes of
Suricata EVE and Wazuh alerts.json; no vendor sample data is shipped here.
"""

from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent
EVENTS = DEMO_DIR / "events.jsonl"
PROFILES = DEMO_DIR / "profiles.yaml"
DEMO_SIGNATURE_ID = 9000001
DESCRIPTION_PREFIX = "ALERTFLOW DEMO"  # every demo event's description starts with it
