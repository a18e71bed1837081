"""Pure engines behind the mock's endpoints: deterministic, Flask-free, no I/O of their own."""
