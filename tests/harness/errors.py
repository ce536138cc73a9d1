"""What the harness raises when a test server cannot be had."""


class ServiceError(RuntimeError):
    """A test server could not be started or did not become ready."""


class MissingBinaryError(ServiceError):
    """A server binary is not installed."""


class PortInUseError(ServiceError):
    """The server lost the race for its port; trying other ports may help."""
