"""The control plane: the HTTP server for metrics, health, readiness, the kill switch and
Alertmanager (`http`: the plane, its routes and reads), the two POST doors to a change and their
authentication (`commands`), the replies and ASGI plumbing (`replies`), the guards every request
passes (`guard`), the bounded Alertmanager webhook (`webhook`), and serving it on a thread and
trio loop of its own (`server`).
"""

__all__ = ['commands', 'guard', 'http', 'replies', 'server', 'webhook']
