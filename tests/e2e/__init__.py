"""End-to-end tests (real server, real browser) and their SYNTHETIC seed data."""
