"""The web console: pages and API for the test device, the parents and the operator."""
