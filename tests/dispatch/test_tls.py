"""DICOM TLS per destination (PS3.15 B.1, BCP 195) through izer.net's AssociationFactory.

Peers: DCMTK storescp over TLS with the session's test CA (trusted, expired, untrusted and
client-certificate-requiring variants) and Orthanc with DICOM TLS. Every refusal must be
one plain line that says what is wrong with which certificate.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from dataclasses import replace

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom.sop_class import SecondaryCaptureImageStorage, Verification

from izer.config import Destination, NetworkSettings, StationSettings, TlsSettings
from izer.dispatch.stow import BasicAuth
from izer.net.association import AssociationFactory, AssociationFailed, tls_context
from tests.helpers.dicom_samples import make_secondary_capture
from tests.peers.harness import CertKey, Peer, PeerPki

pytestmark = pytest.mark.peers

CONTEXTS = [Verification, (SecondaryCaptureImageStorage, ["1.2.840.10008.1.2.1"])]


@pytest.fixture
def factory() -> AssociationFactory:
    return AssociationFactory(
        StationSettings(ae_title="IZERTLS", uid_root="1.2.826.0.1.3680043.10.1452"),
        NetworkSettings(
            connect_timeout_s=5, acse_timeout_s=5, dimse_timeout_s=10, network_timeout_s=10
        ),
    )


def _destination(
    peer: Peer, pki: PeerPki, *, client: CertKey | None = None, **tls: object
) -> Destination:
    settings = TlsSettings(
        enabled=True,
        ca_file=str(pki.ca),
        cert_file=str(client.cert) if client else "",
        key_file=str(client.key) if client else "",
    )
    return Destination(
        peer.name,
        ae_title=peer.aet,
        host=peer.host,
        port=peer.port,
        tls=replace(settings, **tls),  # type: ignore[arg-type]
    )


def _refusal(factory: AssociationFactory, destination: Destination) -> str:
    with pytest.raises(AssociationFailed) as caught, factory.associate(destination, CONTEXTS):
        pass
    message = str(caught.value)
    assert "\n" not in message
    assert destination.ae_title in message
    return message


def _store(factory: AssociationFactory, destination: Destination, ds: Dataset) -> None:
    with factory.associate(destination, CONTEXTS) as association:
        assert association.send_c_echo().Status == 0x0000
        status = association.send_c_store(ds)
        assert status.Status == 0x0000


def test_echo_and_store_over_tls(
    factory: AssociationFactory, storescp_tls: Peer, peer_pki: PeerPki
) -> None:
    ds = make_secondary_capture(patient_id="IZT-TLS-1")

    _store(factory, _destination(storescp_tls, peer_pki), ds)

    [received] = storescp_tls.folder.glob(f"*{ds.SOPInstanceUID}*")
    copy = dcmread(received)
    assert copy.SOPInstanceUID == ds.SOPInstanceUID
    assert copy.PixelData == ds.PixelData


def test_the_client_certificate_is_sent_when_configured(
    factory: AssociationFactory, storescp_tls_client: Peer, peer_pki: PeerPki
) -> None:
    destination = _destination(storescp_tls_client, peer_pki, client=peer_pki.client)

    with factory.associate(destination, CONTEXTS) as association:
        assert association.send_c_echo().Status == 0x0000


def test_a_missing_client_certificate_is_named(
    factory: AssociationFactory, storescp_tls_client: Peer, peer_pki: PeerPki
) -> None:
    message = _refusal(factory, _destination(storescp_tls_client, peer_pki))

    assert "requires a client certificate" in message
    assert "tls.cert_file" in message


def test_a_client_certificate_from_another_ca_is_refused_by_the_peer(
    factory: AssociationFactory, storescp_tls_client: Peer, peer_pki: PeerPki
) -> None:
    destination = _destination(storescp_tls_client, peer_pki, client=peer_pki.untrusted_client)

    message = _refusal(factory, destination)

    assert "refused izer's client certificate" in message
    assert str(peer_pki.untrusted_client.cert) in message


def test_a_server_certificate_from_an_untrusted_ca_is_refused(
    factory: AssociationFactory, storescp_tls_untrusted: Peer, peer_pki: PeerPki
) -> None:
    message = _refusal(factory, _destination(storescp_tls_untrusted, peer_pki))

    assert "certificate is not trusted" in message
    assert str(peer_pki.ca) in message


def test_an_expired_server_certificate_is_refused_saying_so(
    factory: AssociationFactory, storescp_tls_expired: Peer, peer_pki: PeerPki
) -> None:
    message = _refusal(factory, _destination(storescp_tls_expired, peer_pki))

    assert "certificate has expired" in message


def test_a_certificate_for_another_host_is_refused_unless_hostname_checks_are_off(
    factory: AssociationFactory, storescp_tls: Peer, peer_pki: PeerPki
) -> None:
    other_name = replace(_destination(storescp_tls, peer_pki), host="127.0.0.2")

    message = _refusal(factory, other_name)

    assert "not issued for 127.0.0.2" in message
    unchecked = replace(other_name, tls=replace(other_name.tls, check_hostname=False))
    with factory.associate(unchecked, CONTEXTS) as association:
        assert association.send_c_echo().Status == 0x0000


def test_plain_dicom_to_a_tls_port_says_tls_is_expected(
    factory: AssociationFactory, storescp_tls: Peer, peer_pki: PeerPki
) -> None:
    plain = _destination(storescp_tls, peer_pki, enabled=False)

    message = _refusal(factory, plain)

    assert "expects TLS" in message


def test_tls_to_a_plain_port_says_the_peer_does_not_speak_tls(
    factory: AssociationFactory, storescp: Peer, peer_pki: PeerPki
) -> None:
    message = _refusal(factory, _destination(storescp, peer_pki))

    assert "does it speak TLS" in message


def test_store_over_tls_to_orthanc(
    factory: AssociationFactory, orthanc_secure: Peer, peer_pki: PeerPki
) -> None:
    ds = make_secondary_capture(patient_id="IZT-TLS-2")

    _store(factory, _destination(orthanc_secure, peer_pki), ds)

    assert orthanc_secure.http_auth is not None
    request = urllib.request.Request(
        f"{orthanc_secure.http_url}/tools/lookup",
        data=str(ds.SOPInstanceUID).encode(),
        headers={"Authorization": BasicAuth(*orthanc_secure.http_auth).header()},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        found = json.loads(response.read())
    assert [item["Type"] for item in found] == ["Instance"]


def test_tls_contexts_refuse_versions_older_than_1_2() -> None:
    context = tls_context(TlsSettings(enabled=True))

    assert context is not None
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED
