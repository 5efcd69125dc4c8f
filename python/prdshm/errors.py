"""The exceptions of prdshm, one class per kind of failure.

Every exception is a :class:`prdshm.Error` and carries the library's code
(``.code``, a negative ``PRDSHM_E...`` value), its name (``.name``) and the
library's detailed message (``.detail``, what ``prdshm_last_error()`` said).
Where a builtin exception means the same thing, the class also derives from
it, so ``except TimeoutError`` or ``except FileNotFoundError`` work too.
"""
from ._prdshm import ffi, lib

__all__ = [
    "Error", "LockTimeout", "Busy", "Deadlock", "TableFull", "NoSegment",
    "SegmentExists", "CorruptSegment", "PermissionDenied", "InvalidName",
    "ConfigError", "InvalidArgument", "NotHeld", "AlreadyHeld", "PhaseError", "Interrupted",
    "code_of", "raise_for",
]


def _text(p):
    return ffi.string(p).decode("utf-8", "replace") if p != ffi.NULL else ""


def _codes():
    """{"EBUSY": -10, ...} from the library itself (new codes included)."""
    out = {}
    for code in range(-1, -200, -1):
        name = _text(lib.prdshm_err_name(code))
        if name == "PRDSHM_UNKNOWN":
            break
        out[name[len("PRDSHM_"):]] = code
    return out


CODES = _codes()


def code_of(name):
    """The numeric code of ``"EBUSY"`` (or ``"PRDSHM_EBUSY"``)."""
    return CODES[name[len("PRDSHM_"):] if name.startswith("PRDSHM_") else name]


class Error(Exception):
    """A failed prdshm call.

    Attributes: ``code`` (negative int, ``PRDSHM_E...``), ``name``
    (``"PRDSHM_EBUSY"``), ``detail`` (the library's message for this
    failure, e.g. ``"lock table full (max_locks=1024)"``).
    """

    def __init__(self, code, detail=None, message=None):
        self.code = code
        self.name = _text(lib.prdshm_err_name(code))
        self.detail = detail if detail is not None else _text(lib.prdshm_strerror(code))
        super().__init__(message or self.detail)

    def __reduce__(self):
        # Picklable (multiprocessing sends a worker's exception back).
        return (self.__class__, (self.code, self.detail, str(self)))


class LockTimeout(Error, TimeoutError):
    """A lock was not granted in time.  ``.resource`` names it and
    ``.holders`` lists the :class:`prdshm.Holder` records that blocked it
    (also named in the message)."""

    resource = None
    holders = ()


class Busy(LockTimeout):
    """A try (``timeout=0``) found the resource taken."""


class Deadlock(Error):
    """The request closed a cycle of waits.  ``.cycle`` lists the agent ids
    along it, ``["a", "b", "a"]``: a waits for b waits for a."""

    @property
    def cycle(self):
        _, _, chain = self.detail.partition(": ")
        return chain.split(" waits for ") if chain else []


class TableFull(Error):
    """The lock, agents or phase table is full (see ``.name``)."""


class NoSegment(Error, FileNotFoundError):
    """No segment of that name (create it, or check PRD_PARALLEL_SHM_NAME)."""


class SegmentExists(Error, FileExistsError):
    """create() found a segment of that name already."""


class CorruptSegment(Error):
    """Not a prdshm segment, another format, corrupt, or needing recovery
    (run ``prdshm-cleanup``)."""


class PermissionDenied(Error, PermissionError):
    """The segment's mode denies access, or the segment is not trusted
    (another user made it, or others may write it)."""


class InvalidName(Error, ValueError):
    """A resource, phase or agent name the library refuses."""


class ConfigError(Error, ValueError):
    """An invalid configuration (``.detail`` says where)."""


class InvalidArgument(Error, ValueError):
    """An argument the library refuses (PRDSHM_EINVAL)."""


class NotHeld(Error, RuntimeError):
    """Releasing (or converting) what this session does not hold."""


class AlreadyHeld(Error, RuntimeError):
    """Locking what this session holds already (use upgrade/downgrade)."""


class PhaseError(Error):
    """An illegal phase transition or an unknown phase."""


class Interrupted(Error, InterruptedError):
    """A wait ended by a signal whose handler did not raise.  The binding
    normally waits again, so this is seen only from calls that cannot."""


_CLASSES = {
    "ETIMEDOUT": LockTimeout, "EBUSY": Busy, "EDEADLK": Deadlock,
    "ELOCKFULL": TableFull, "EAGENTFULL": TableFull, "EPHASEFULL": TableFull,
    "ENOENT": NoSegment, "EEXIST": SegmentExists,
    "ENOTSEG": CorruptSegment, "EVERSION": CorruptSegment,
    "ECORRUPT": CorruptSegment, "ERECOVER": CorruptSegment,
    "EACCES": PermissionDenied, "EPERM": PermissionDenied,
    "ENAME": InvalidName, "ECONFIG": ConfigError, "ECYCLE": ConfigError,
    "EUNKNOWNDEP": ConfigError, "EINVAL": InvalidArgument,
    "ENOTHELD": NotHeld, "EHELD": AlreadyHeld,
    "ETRANSITION": PhaseError, "ENOPHASE": PhaseError, "ENOAGENT": PhaseError,
    "EINTR": Interrupted,
}
_BY_CODE = {CODES[k]: v for k, v in _CLASSES.items() if k in CODES}


def error_for(code, detail=None):
    """The exception for library code @code (call right after the failure:
    the detail is the calling thread's last error)."""
    if detail is None:
        detail = _text(lib.prdshm_last_error()) or _text(lib.prdshm_strerror(code))
    return _BY_CODE.get(code, Error)(code, detail)


def raise_for(code, detail=None):
    """Raise the exception for @code if it is negative; else return it."""
    if code < 0:
        raise error_for(code, detail)
    return code

