"""Who is calling, and what they may do: users (browser sessions, API tokens), workers (the
worker credential and a run's lease), the lab's mode (local or required). Decided here, once,
for every route: each route declares one rule (``rules.public``, ``member``, ``admin``, ``worker``)."""
