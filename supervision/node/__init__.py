"""A trading node: its assembly from a config, its monitor, the journal, the live guard, and running
it on the live host.
"""

__all__ = ['assembly', 'journal', 'live_guard', 'monitor', 'run']
