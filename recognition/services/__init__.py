"""Recognition services: journal posting, obligations and schedules, the recognition run, periods, reports."""
