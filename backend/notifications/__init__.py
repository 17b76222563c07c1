"""Notifications: a user told when their runs or searches end — signed webhooks to hosts on the
admin's allowlist (delivered and retried by backend.notifications.delivery), and the browser's
notifications, which every open page follows through GET /api/me/events."""
