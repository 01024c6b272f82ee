"""Network adapters: translate a chat protocol to and from the neutral events."""
