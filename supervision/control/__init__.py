"""The control plane: the HTTP server for metrics, health, readiness, the kill switch and
Alertmanager (`http`), the guards every request passes (`guard`), the bounded Alertmanager
webhook (`webhook`), and serving it on a thread and trio loop of its own (`server`).
"""

__all__ = ['guard', 'http', 'server', 'webhook']
