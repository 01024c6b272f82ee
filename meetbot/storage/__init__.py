"""The storage layer: the only code that speaks SQL."""
