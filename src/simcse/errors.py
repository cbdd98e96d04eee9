"""The errors a user can cause and fix, as one family.

Every class here derives from :class:`SimCSEError`; the ``simcse`` command prints such an
error as one line and exits with status 2. Anything else that escapes is a bug, and the
command lets its traceback show. Each class also derives from the built-in exception a
Python caller would expect (``ValueError``, ``FileNotFoundError``, ``RuntimeError``), so
``except ValueError`` keeps working in library code.

Messages name the place: ``file:line: field ...`` for data, the file for saved artefacts,
the flag or key for settings.
"""

from __future__ import annotations


class SimCSEError(Exception):
    """Base class: a mistake in the user's input, files or settings (one-line message)."""


class ConfigError(SimCSEError, ValueError):
    """A setting, flag or config-file value is invalid; the message names it and the valid values."""


class DataError(SimCSEError, ValueError):
    """Bad input data; the message starts with ``file:line:``."""


class FormatError(SimCSEError, ValueError):
    """A saved artefact (model folder, index folder, checkpoint, resume record) is corrupt,
    inconsistent or of another version; the message names the file."""


class MissingFileError(SimCSEError, FileNotFoundError):
    """A file or folder the user named (or that an artefact needs) does not exist."""


class DownloadError(SimCSEError, RuntimeError):
    """A download failed or its result did not check out; the message names the URL or file
    and the ways around it."""


class MissingDependencyError(SimCSEError, ImportError):
    """An optional dependency is not installed; the message gives the ``pip install`` line."""


class TrainingDiverged(SimCSEError, RuntimeError):
    """A non-finite loss or gradient: training stopped before writing anything from it."""


__all__ = [
    "ConfigError",
    "DataError",
    "DownloadError",
    "FormatError",
    "MissingDependencyError",
    "MissingFileError",
    "SimCSEError",
    "TrainingDiverged",
]
