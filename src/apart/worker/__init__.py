"""Workers: RQ jobs that advance runs, control over Redis, heartbeats, recovery."""
