"""Contract services: creation (from an accepted quote or by staff), amendments with proration,
renewals and renewal alerts, termination, and the daily lifecycle sweep."""
