"""Real third-party DICOM peers (Orthanc, DCMTK) for integration tests."""
