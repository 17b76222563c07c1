"""The worker protocol: what workers send and what they are answered, and the ``/api/worker`` routes."""
