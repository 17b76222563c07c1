"""What every feature stands on: settings, the database and its tables, the broker, change
notices, request limits, errors, and the enumerated words (statuses) the whole lab shares."""
