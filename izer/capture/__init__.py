"""Sources of frames; capture never writes DICOM."""

from izer.capture.synthetic import SyntheticSource

__all__ = ["SyntheticSource"]
