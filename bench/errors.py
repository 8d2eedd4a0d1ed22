"""Every failure of `bench` that a user can act on: one line naming the cause and the fix."""


class BenchError(Exception):
    """Base of every error raised by the bench package."""
