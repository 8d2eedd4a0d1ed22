"""The sweep's user-fixable failures: one line naming the cause and the fix."""

from bench.errors import BenchError


class SweepError(BenchError):
    """A sweep cannot run as asked: bad budget, family, recipe or target."""
