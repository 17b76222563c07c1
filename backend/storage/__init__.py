"""Storage: the runs' checkpoints and models on disk — their sizes, the lab's retention, a per-user
quota, and the garbage collector that removes what no row names (backend.storage.service)."""

MAX_QUOTA_BYTES = 10**15  # a user's storage quota, at most (a petabyte): bounds the admin's field
