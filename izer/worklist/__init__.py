"""Worklist and query: MWL C-FIND, Study/Patient Root C-FIND, and the item-to-context mapping.

Imports only :mod:`izer.model`, :mod:`izer.config` and :mod:`izer.net`.
"""

from izer.worklist.charsets import CharsetProblem, CharsetWarning
from izer.worklist.items import Code, RequestContext, WorklistItem, WorklistItemError
from izer.worklist.mwl import (
    FindFailed,
    ProviderError,
    WorklistError,
    WorklistQuery,
    WorklistResult,
    find_worklist,
    find_worklist_all,
)

__all__ = [
    "CharsetProblem",
    "CharsetWarning",
    "Code",
    "FindFailed",
    "ProviderError",
    "RequestContext",
    "WorklistError",
    "WorklistItem",
    "WorklistItemError",
    "WorklistQuery",
    "WorklistResult",
    "find_worklist",
    "find_worklist_all",
]
