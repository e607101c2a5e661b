"""The alert formats forwarders send."""

from __future__ import annotations

from alertmodel import ALERT_COLUMNS, Alert, AlertRead
from alertmodel.formats import FORMATS
from alertmodel.forwarding import stored_alert
from tests.alertfactory import make_alert


def test_the_alertflex_record_is_every_stored_column_with_json_event_as_stored_text() -> None:
    row = make_alert(json_event='{"alert": {"signature_id": 2019284}}')
    for alert in (Alert(**row), AlertRead(alert_id=7, **row), stored_alert({"alert_id": 7, **row})):
        record = FORMATS["alertflex"](alert)
        assert list(record) == list(ALERT_COLUMNS)
        assert record == {**row, "time_collr": row["time_collr"].isoformat(), "time_cntrl": None}


def test_a_stored_alert_built_without_validation_behaves_as_an_alert_read() -> None:
    row = {"alert_id": 3, **make_alert()}
    alert = stored_alert(dict(row))
    assert alert.model_dump() == AlertRead(**row).model_dump()
    assert alert.severity == 2 and alert.alert_id == 3
