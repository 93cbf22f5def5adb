"""Use cases joining the domain and the adapters."""
