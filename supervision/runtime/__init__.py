"""The actor runtime: cells, contexts, mailboxes, the deterministic and live hosts, OTP supervisors
and refs. It knows nothing of trading.
"""

__all__ = ['bridge', 'cell', 'context', 'deterministic', 'executors', 'introspection', 'lifecycle',
    'live', 'mailbox', 'refs', 'specs', 'supervisor']
