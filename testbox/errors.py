"""ICAT's exception, as the SOAP API reports it (IcatException{type, message, offset})."""


class IcatError(Exception):
    """An error ICAT would raise; ``type`` is one of ICAT's IcatExceptionType names.

    ``offset`` is the index of the failing bean in createMany/deleteMany, or the
    position in a query string; -1 when it does not apply.
    """

    TYPES = (
        "BAD_PARAMETER",
        "INTERNAL",
        "INSUFFICIENT_PRIVILEGES",
        "NO_SUCH_OBJECT_FOUND",
        "OBJECT_ALREADY_EXISTS",
        "SESSION",
        "VALIDATION",
        "NOT_IMPLEMENTED",
    )

    def __init__(self, type: str, message: str, offset: int = -1) -> None:
        if type not in self.TYPES:
            raise ValueError(f"unknown ICAT exception type {type!r}")
        super().__init__(message)
        self.type = type
        self.message = message
        self.offset = offset

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"
