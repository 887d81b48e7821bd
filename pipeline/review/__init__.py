"""The coders' review queue: accounts, leases, blind double-coding and decisions."""
