"""Experiments run through the real actors: Avellaneda & Stoikov (2008), section 3.3."""

__all__ = ['as_report', 'avellaneda_stoikov']
