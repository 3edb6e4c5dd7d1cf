"""Configuration: TOML into frozen attrs classes, strictly, with secrets by reference only; and the
effective config back as TOML.
"""

__all__ = ['dump', 'load', 'log_redaction', 'schema', 'secrets', 'structure']
