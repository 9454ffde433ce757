"""Pure decoders: bytes in, frozen structures out. Formats, not policy; never imports pmoview."""

from parsers.errors import DumpFormatError, parse_at

__all__ = ["DumpFormatError", "parse_at"]
