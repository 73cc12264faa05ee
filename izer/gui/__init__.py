"""The workstation GUI (PyQt6): a thin layer over the headless engine.

The only room that imports PyQt6. Every engine call that may touch the disk or the network
runs on a worker thread through :class:`izer.gui.bridge.EngineBridge`; engine events reach
the widgets as Qt signals on the GUI thread. Screens never hold state the engine does not.
"""
