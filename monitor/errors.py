from core.errors import FrameworkError


class MonitorError(FrameworkError):
    """The monitor, a source, a sink or a checkpoint could not work as asked; the message says why."""
