"""The local review page (``izer view``): an HTTP server on 127.0.0.1 behind a URL token."""

from izer.view.server import LOCAL_HOST, ReviewServer, parse_range

__all__ = ["LOCAL_HOST", "ReviewServer", "parse_range"]
