"""The one error every patch module raises, carrying the HTTP status kube-apiserver answers with."""

from __future__ import annotations

# The message of upstream's NewGenericServerResponse for 422: the cause is not shown to the client.
REJECTED = "the server rejected our request due to an error in our request"

_REASONS = {400: "BadRequest", 413: "RequestEntityTooLarge", 422: "Invalid", 500: ""}


class PatchError(Exception):
    """A patch that cannot be applied.

    `code` is the status upstream answers with: 400 for a malformed body, 413 for too many JSON-patch
    operations, 422 for a well-formed patch that does not apply, and 500 for the strategic-merge errors
    upstream passes through untyped (e.g. a list element without its merge key). `message` is the
    Status message; `detail` keeps the underlying cause where upstream hides it behind `REJECTED`.
    """

    def __init__(self, code: int, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail

    @classmethod
    def rejected(cls, detail: str) -> PatchError:
        """422 Invalid with upstream's generic message; `detail` says what actually failed."""
        return cls(422, REJECTED, detail)

    @property
    def reason(self) -> str:
        """The Status `reason` for `code` ("" for 500, as upstream's untyped errors)."""
        return _REASONS.get(self.code, "")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, detail={self.detail!r})"
