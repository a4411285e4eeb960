"""pytest plugin entry point (drill suites as tests)."""
