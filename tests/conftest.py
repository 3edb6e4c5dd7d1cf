"""Fixtures shared by every test: the `host` fixture (and `deterministic`, `live`) come from the
`supervision.testing` pytest plugin. An installed Troupe registers that plugin by its entry point
under the same name, so naming it here again is a no-op, never a double registration; a
checkout that is not installed gets it from this line."""

pytest_plugins = ["supervision.testing"]
