"""The static and web archives."""
