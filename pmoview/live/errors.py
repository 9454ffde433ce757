"""One error type for every live target: it is a DumpFormatError (the CLI prints one line, exits 2)
whose text is the whole sentence, led by the target's address."""

from __future__ import annotations

from parsers.errors import DumpFormatError


class LiveError(DumpFormatError):
    """A live target that cannot be read: unreachable, gone, running, or answering nonsense."""

    def __init__(self, target: str, problem: str) -> None:
        self.problem = problem
        super().__init__(target, None, problem)

    def one_line(self) -> str:
        return f"{self.path}: {self.problem}"
