"""DICOM networking base: addresses, associations, echo and izer's own listener."""

from izer.net.address import AddressError, parse_address, resolve_destination
from izer.net.association import AssociationFactory, AssociationFailed
from izer.net.echo import EchoResult, echo
from izer.net.listener import Listener

__all__ = [
    "AddressError",
    "AssociationFactory",
    "AssociationFailed",
    "EchoResult",
    "Listener",
    "echo",
    "parse_address",
    "resolve_destination",
]
