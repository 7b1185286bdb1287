import logging

from don_predictor.logs import LOGGER_NAME, event, setup_logging


def test_events_are_one_line_with_level_and_context(capsys):
    setup_logging("INFO")
    setup_logging("INFO")  # reruns must not add a second handler
    event("scored", page="compare", backends="rf,tf", rows=50, seconds=0.1234, file="my file.csv")
    event("detail", logging.DEBUG, hidden=True)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    assert " INFO don_predictor scored page=compare backends=rf,tf rows=50 seconds=0.123 file='my file.csv'" in lines[0]
    assert len([h for h in logging.getLogger(LOGGER_NAME).handlers if getattr(h, "_don_predictor", False)]) == 1
