"""The pure meeting domain: no I/O, no event loop, no third-party imports."""
