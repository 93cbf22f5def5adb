"""Helpers that the test suites and the benches share: they import no fixture and set no
environment, so that a bench can use them with its own."""
