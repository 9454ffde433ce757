"""The mappings list's model: one root's ``MappingColumns`` and the rows the filter keeps (no
Textual: the view renders rows). The filter is ``pmoview.mapfilter``, the one ``pmoview mappings``
uses; a ``Mapping`` object is made only for a row that is drawn or chosen."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pmoview.arch.columns import MappingColumns
from pmoview.arch.records import Mapping
from pmoview.mapfilter import FILTER_HELP, FilterError, parse_filter

__all__ = ["FILTER_HELP", "FilterError", "MappingModel"]


@dataclass
class MappingModel:
    """``rows`` (indices into ``cols``) is what the filter keeps, in VA order."""

    cols: MappingColumns
    rows: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    filter_text: str = ""

    @classmethod
    def build(cls, cols: MappingColumns) -> MappingModel:
        return cls(cols, np.arange(len(cols), dtype=np.int64))

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def mapping(self, y: int) -> Mapping:
        return self.cols.mapping(int(self.rows[y]))

    def apply(self, text: str) -> None:
        """Keep the mappings that match every word of ``text``; raises FilterError for an unknown word."""
        self.rows = np.flatnonzero(parse_filter(text).mask(self.cols))
        self.filter_text = text

    def index_of_va(self, va: int) -> int | None:
        """Row (after filtering) of the mapping holding ``va``, or of the first one after it."""
        if not len(self):
            return None
        vas = self.cols.va_start[self.rows]
        i = int(np.searchsorted(vas, np.uint64(va), side="right")) - 1
        return max(0, i)
