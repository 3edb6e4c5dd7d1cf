"""The control plane: the HTTP server for metrics, health, readiness, the kill switch and
Alertmanager.
"""

__all__ = ['http']
