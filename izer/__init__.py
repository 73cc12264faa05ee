"""izer: a DICOMizer workstation.

Captures stills, clips, scans and documents, encodes them as DICOM with headers from the
worklist, keeps them in a local study store and dispatches them durably.
"""

__version__ = "0.1.0"
