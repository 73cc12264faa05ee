"""Burn an ISO image (or a media folder) to CD, DVD or BD, check the disc first, read it back.

Linux uses the libburnia tools; Windows the IMAPI2 service through PowerShell (thin, untested
here). Commands (xorriso and cdrskin 1.5.4):

- `list_drives`: ``xorriso -devices``, then ``xorriso -outdev DEV -list_profiles out`` per
  drive to tell burners from ROM drives.
- `media_status`: ``xorriso -outdev DEV -toc -tell_media_space``.
- `burn`, writing: ``xorriso -as cdrecord -v dev=DEV [speed=S] [-dummy] [blank=as_needed]
  [-eject] IMAGE`` or ``cdrskin -v [--allow_emulated_drives] dev=DEV [speed=S] [-dummy]
  [blank=as_needed] [-eject] IMAGE`` (``--allow_emulated_drives`` for ``stdio:`` pseudo
  drives; run as root, cdrskin accepts only ``stdio:/dev/null`` there).
- `burn`, verification (`verify_disc`): ``xorriso -outdev DEV -check_media use=outdev
  what=disc min_lba=0 max_lba=N-1 data_to=- --``, its output hashed and compared with the
  image's MD5; then ``xorriso -outdev DEV -eject all``.

A ``stdio:PATH`` device is a libburn pseudo drive: a file (or /dev/null) that behaves like an
overwritable disc, which is how the tests burn without hardware. Images made by
`make_iso` carry xorriso MD5 tags, so a disc can also be checked later by anyone with
``xorriso -md5 on -indev /dev/sr0 -check_md5 FAILURE --``.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from izer.dispatch.media.iso import (
    SECTOR_BYTES,
    MediaToolError,
    ToolResult,
    file_md5,
    find_tool,
    make_iso,
    run_tool,
    tool_problems,
    volume_id_for,
)

__all__ = [
    "DEFAULT_BURN_TOOL",
    "BurnError",
    "BurnReport",
    "BurnTool",
    "Drive",
    "MediaStatus",
    "burn",
    "list_drives",
    "media_status",
    "parse_devices",
    "parse_media_status",
    "verify_disc",
]

#: ``xorriso -as cdrecord`` pads a data track with 300 KiB (cdrecord's default).
PAD_BYTES = 300 * 1024
STATUS_TIMEOUT_S = 120.0
POWERSHELL_TIMEOUT_S = 60.0
#: MMC profiles (MMC-6 Table 91) a drive can write: CD-R/RW, DVD-R/RW/RAM/+R/+RW (DL), BD-R/RE.
WRITABLE_PROFILES = frozenset(
    {0x09, 0x0A, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x1A, 0x1B, 0x2A, 0x2B, 0x41, 0x42, 0x43}
)
#: Media kinds that can be written again (xorriso's names and IMAPI2's).
_REWRITABLE_KINDS = ("overwrite", "RW", "RAM", "BD-RE")

_SPEED = re.compile(r"(\d+(\.\d+)?[kmcdb]?|min|max)", re.IGNORECASE)
_DEVICE_LINE = re.compile(r"^\s*\d+\s+-dev\s+'([^']+)'\s+\S+\s*:\s*'([^']*)'\s*'([^']*)'?")
_PROFILE = re.compile(r"Profile\s*:\s*0x([0-9A-Fa-f]+)")
_MB_WRITTEN = re.compile(r"(\d+)\s+of\s+(\d+)\s+MB written")


class BurnError(MediaToolError):
    """A disc could not be checked, written or verified; ``transient`` when another disc,
    or the same one inserted again, may do."""


class BurnTool(enum.StrEnum):
    """The program that writes the disc."""

    #: ``xorriso -as cdrecord`` (Linux, the default there).
    XORRISO = "xorriso"
    #: ``cdrskin``, cdrecord-compatible (Linux; Debian package cdrskin).
    CDRSKIN = "cdrskin"
    #: The Windows Image Mastering API v2 through PowerShell (Windows, the default).
    IMAPI2 = "imapi2"


#: The burning program used when none is named: IMAPI2 on Windows, xorriso elsewhere.
DEFAULT_BURN_TOOL = BurnTool.IMAPI2 if os.name == "nt" else BurnTool.XORRISO


@dataclass(frozen=True)
class Drive:
    """An optical drive: its address for ``device``, its make, and whether it can burn."""

    device: str
    vendor: str
    model: str
    writable: bool


@dataclass(frozen=True)
class MediaStatus:
    """The disc in a drive, as the drive reports it.

    Attributes
    ----------
    device
        The drive address.
    blank
        Nothing written yet.
    appendable
        Written, but more sessions may follow (not closed).
    free_bytes
        Room left for a new session.
    kind
        The medium as the tool names it: ``CD-R``, ``DVD+RW``, ``stdio file, overwriteable``.
    present
        A medium is in the drive.
    rewritable
        It can be blanked or overwritten (CD-RW, DVD±RW, DVD-RAM, BD-RE, stdio files).
    capacity_bytes
        Room on the whole medium, as when it is blank (0 when unknown).
    """

    device: str
    blank: bool
    appendable: bool
    free_bytes: int
    kind: str
    present: bool = True
    rewritable: bool = False
    capacity_bytes: int = 0


@dataclass
class BurnReport:
    """What `burn` did.

    Attributes
    ----------
    device
        The drive of the last copy.
    copies
        Discs written (or simulated).
    simulated
        Written with the laser off (``-dummy``): nothing is on the discs.
    verified
        Every disc was read back and matched the image.
    md5
        MD5 of the image.
    notes
        Plain-language remarks for the user (image made from a folder, skipped steps).
    """

    device: str
    copies: int
    simulated: bool
    verified: bool
    md5: str
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- drives


def list_drives() -> list[Drive]:
    """The optical drives of this computer; ``[]`` when there are none or no tool to ask.

    Linux: ``xorriso -devices`` (only drives the user may open read-write are seen).
    Windows: IMAPI2 through PowerShell.
    """
    if os.name == "nt":
        return _imapi2_drives()
    try:
        xorriso = find_tool("xorriso", error=BurnError)
        result = run_tool([xorriso, "-devices"], error=BurnError, timeout_s=STATUS_TIMEOUT_S)
    except BurnError:
        return []
    drives = []
    for device, vendor, model in parse_devices(result.stdout + "\n" + result.stderr):
        drives.append(Drive(device, vendor, model, _can_write(xorriso, device, model)))
    return drives


def parse_devices(text: str) -> list[tuple[str, str, str]]:
    """(device, vendor, model) of each drive line of ``xorriso -devices``.

    The line format is ``0  -dev '/dev/sr0' rwrw-- :  'VENDOR' 'MODEL'``.
    """
    found = []
    for line in text.splitlines():
        if (match := _DEVICE_LINE.match(line)) is not None:
            found.append((match.group(1), match.group(2).strip(), match.group(3).strip()))
    return found


def _can_write(xorriso: str, device: str, model: str) -> bool:
    """Whether the drive lists a writable MMC profile; guessed from the model if it cannot."""
    try:
        result = run_tool(
            [xorriso, "-outdev", device, "-list_profiles", "out"],
            error=BurnError,
            timeout_s=STATUS_TIMEOUT_S,
        )
    except BurnError:
        result = None
    codes = {int(code, 16) for code in _PROFILE.findall(result.stdout)} if result else set()
    if codes:
        return bool(codes & WRITABLE_PROFILES)
    return any(word in model.upper() for word in ("RW", "RAM", "WRITER", "BURN"))


def media_status(device: str, *, tool: BurnTool = DEFAULT_BURN_TOOL) -> MediaStatus:
    """What the disc in *device* holds and how much room is left.

    Uses ``xorriso -outdev DEV -toc -tell_media_space`` (also for ``tool=CDRSKIN``); IMAPI2
    on Windows.

    Raises
    ------
    BurnError
        When the tool is missing or there is no drive at *device*.
    """
    if BurnTool(tool) is BurnTool.IMAPI2:
        return _imapi2_status(device)
    xorriso = find_tool("xorriso", error=BurnError)
    result = run_tool(
        [xorriso, "-outdev", device, "-toc", "-tell_media_space"],
        error=BurnError,
        timeout_s=STATUS_TIMEOUT_S,
    )
    return parse_media_status(device, result.stdout + "\n" + result.stderr, result)


def parse_media_status(device: str, text: str, result: ToolResult | None = None) -> MediaStatus:
    """A `MediaStatus` from xorriso's ``-toc -tell_media_space`` report."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in {"Media current", "Media status", "Media blocks", "Media space"}:
            fields.setdefault(key.strip(), value.strip())
    if "Media current" not in fields:
        said = tool_problems(result) if result is not None else text.strip()[-200:]
        raise BurnError(
            f"no drive at {device}: {said}. Check the address (xorriso -devices lists the "
            "drives; pseudo drives are written stdio:/path/file)",
            transient=True,
        )
    kind = fields["Media current"]
    state = fields.get("Media status", "")
    present = "not present" not in (kind + state) and "no media" not in (kind + state).lower()
    blank = present and "is blank" in state
    appendable = present and "appendable" in state
    space = re.match(r"(\d+)s", fields.get("Media space", ""))
    free = int(space.group(1)) * SECTOR_BYTES if space and present else 0
    overall = re.search(r"(\d+)\s+overall", fields.get("Media blocks", ""))
    capacity = int(overall.group(1)) * SECTOR_BYTES if overall and present else free
    rewritable = present and any(word in kind for word in _REWRITABLE_KINDS)
    return MediaStatus(
        device=device,
        blank=blank,
        appendable=appendable,
        free_bytes=free,
        kind=kind if present else "no medium",
        present=present,
        rewritable=rewritable,
        capacity_bytes=max(capacity, free),
    )


# --------------------------------------------------------------------------- burn


def burn(
    image: Path,
    device: str,
    *,
    copies: int = 1,
    speed: str = "",
    simulate: bool = False,
    verify: bool = True,
    eject: bool = True,
    tool: BurnTool = DEFAULT_BURN_TOOL,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    next_disc: Callable[[int], str | None] | None = None,
) -> BurnReport:
    """Write an ISO image to one or more discs, checking each disc first and reading it back.

    Parameters
    ----------
    image
        An ISO 9660 image file, or a media folder made into an image first with
        `make_iso` (volume id: its DICOMDIR's File-set ID) in a temporary folder.
    device
        The drive: ``/dev/sr0`` (Linux), ``E:`` (Windows), or a pseudo drive
        ``stdio:/path/file``.
    copies
        Number of discs. Before each disc after the first, *next_disc* is called with the copy
        number (2, 3 ...): it asks the user for a blank disc and may return another device
        address for that copy (``None`` keeps the same).
    speed
        Writing speed for cdrecord's ``speed=``: ``""`` (the drive's choice), an x-factor such
        as ``8``, or ``min``/``max``.
    simulate
        Write with the laser off (``-dummy``): the disc is checked, nothing is written,
        nothing is verified and the disc is not ejected.
    verify
        Read each disc back and compare its MD5 with the image's; a mismatch is an error.
    eject
        Eject each disc when done (after verification).
    tool
        xorriso (default), cdrskin or IMAPI2 (Windows).
    overwrite
        Allow a rewritable disc that holds data to be blanked or overwritten.
    progress
        Called with (bytes done, bytes to do) over all copies, writing and reading back.

    Raises
    ------
    ValueError
        For a missing image, a file that is not an ISO 9660 image, or bad options.
    BurnError
        Before writing when the disc is missing, not blank or too small ("needs 812 MB, the
        disc holds 700 MB"); when the tool fails; when the read-back differs.
    """
    image = Path(image)
    tool = BurnTool(tool)
    _check_options(copies, speed, next_disc, tool)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="izer-burn-") as scratch:
        if image.is_dir():
            made = make_iso(image, Path(scratch) / "image.iso", volume_id=volume_id_for(image))
            notes.append(
                f"made a {made.size / (1 << 20):.1f} MB image of {image} "
                f"(volume {made.volume_id}) before burning"
            )
            iso, md5 = made.path, made.md5
        elif image.is_file():
            _check_is_iso(image)
            iso, md5 = image, ""
        else:
            raise ValueError(f"no image or media folder at {image}")
        size = iso.stat().st_size
        steps = 2 if verify and not simulate else 1
        meter = _Meter(progress, size * copies * steps)
        verified_all = verify and not simulate
        for copy in range(1, copies + 1):
            if copy > 1:
                assert next_disc is not None
                device = next_disc(copy) or device
            status = media_status(device, tool=tool)
            _check_medium(status, size, overwrite=overwrite)
            if not md5:
                md5 = file_md5(iso)
            pseudo = _stdio_path(device)
            existed = pseudo is not None and pseudo.exists()
            _write(iso, device, status, tool, speed, simulate, verify, eject, overwrite, meter)
            if simulate:
                _drop_empty_pseudo_disc(device, existed)
                continue
            if verify:
                verify_disc(iso, device, md5=md5, tool=tool, progress=meter.add)
            if eject and (verify or tool is BurnTool.IMAPI2):
                _eject(device, tool)
        if simulate:
            notes.append(
                "simulated with the laser off (-dummy): nothing was written, "
                "no disc was verified or ejected"
            )
        elif not verify:
            notes.append("not verified: the discs were not read back")
        if tool is BurnTool.IMAPI2 and speed:
            notes.append("speed is chosen by the drive with IMAPI2; the requested one was ignored")
        return BurnReport(
            device=device,
            copies=copies,
            simulated=simulate,
            verified=verified_all,
            md5=md5,
            notes=notes,
        )


def _check_options(
    copies: int, speed: str, next_disc: Callable[[int], str | None] | None, tool: BurnTool
) -> None:
    if copies < 1:
        raise ValueError(f"copies must be 1 or more, not {copies}")
    if copies > 1 and next_disc is None:
        raise ValueError(
            "copies > 1 needs next_disc, a function that asks the user for the next blank disc"
        )
    if speed and not _SPEED.fullmatch(speed):
        raise ValueError(
            f"speed {speed!r} is not a cdrecord speed: give an x-factor such as 8, "
            "or min or max, or leave it empty"
        )
    if tool is BurnTool.IMAPI2 and os.name != "nt":
        raise BurnError("IMAPI2 is the Windows burning service; here use xorriso or cdrskin")


def _check_is_iso(image: Path) -> None:
    """An ISO 9660 image has ``CD001`` in its first volume descriptor (ECMA-119 8.1)."""
    with open(image, "rb") as handle:
        handle.seek(16 * SECTOR_BYTES + 1)
        if handle.read(5) != b"CD001":
            raise ValueError(
                f"{image} is not an ISO 9660 image; give an .iso made by izer media build "
                "or a media folder"
            )


def _check_medium(status: MediaStatus, size: int, *, overwrite: bool) -> None:
    device = status.device
    if not status.present:
        raise BurnError(f"there is no disc in {device}: insert a blank disc", transient=True)
    reuse = overwrite and status.rewritable
    if not status.blank and not reuse:
        hint = (
            ": insert a blank disc, or allow overwriting (overwrite=True) to erase this "
            "rewritable one"
            if status.rewritable
            else ": insert a blank disc"
        )
        state = "appendable" if status.appendable else "closed"
        raise BurnError(
            f"the disc in {device} is not blank ({status.kind}, {state}){hint}", transient=True
        )
    room = status.capacity_bytes if (reuse and not status.blank) else status.free_bytes
    needed = size + PAD_BYTES
    if needed > room:
        raise BurnError(
            f"the image needs {_mb(needed)}, the disc in {device} holds {_mb(room)} "
            f"({status.kind}): use a larger disc (DVD 4.7 GB, BD 25 GB) or split the study",
            transient=True,
        )


def _write(
    iso: Path,
    device: str,
    status: MediaStatus,
    tool: BurnTool,
    speed: str,
    simulate: bool,
    verify: bool,
    eject: bool,
    overwrite: bool,
    meter: _Meter,
) -> None:
    if tool is BurnTool.IMAPI2:
        _imapi2_write(iso, device, simulate=simulate)
        meter.add(iso.stat().st_size)
        return
    program = find_tool(tool.value, error=BurnError)
    argv = [program]
    if tool is BurnTool.XORRISO:
        argv += ["-as", "cdrecord"]
    argv.append("-v")
    if tool is BurnTool.CDRSKIN and device.startswith("stdio:"):
        argv.append("--allow_emulated_drives")
    argv.append(f"dev={device}")
    if speed:
        argv.append(f"speed={speed}")
    if simulate:
        argv.append("-dummy")
    if overwrite and not status.blank:
        argv.append("blank=as_needed")
    if eject and not verify and not simulate:
        argv.append("-eject")
    argv.append(str(iso))
    size = iso.stat().st_size
    start = meter.done

    def on_line(line: str) -> None:
        if (found := _MB_WRITTEN.search(line)) is not None:
            meter.to(start + min(int(found.group(1)) << 20, size))

    result = run_tool(argv, error=BurnError, on_line=on_line)
    if result.returncode != 0:
        raise BurnError(_write_failure(result, tool, device, iso))
    meter.to(start + size)


def _write_failure(result: ToolResult, tool: BurnTool, device: str, iso: Path) -> str:
    said = tool_problems(result)
    if tool is BurnTool.CDRSKIN and "rejected despite --allow_emulated_drives" in said:
        return (
            f"cdrskin refuses the pseudo drive {device}: run as root it only accepts "
            "stdio:/dev/null (unless the folder /root/cdrskin_permissions exists); burn "
            f"with xorriso (--tool xorriso) or as a normal user. It said: {said}"
        )
    return f"{tool.value} could not write {iso.name} to {device}: {said}"


def _stdio_path(device: str) -> Path | None:
    return Path(device.removeprefix("stdio:")) if device.startswith("stdio:") else None


def _drop_empty_pseudo_disc(device: str, existed: bool) -> None:
    """Remove the empty file a simulated burn leaves on a new ``stdio:`` pseudo drive."""
    path = _stdio_path(device)
    if path is not None and not existed and path.is_file() and path.stat().st_size == 0:
        path.unlink()


def verify_disc(
    image: Path,
    device: str,
    *,
    md5: str = "",
    tool: BurnTool = DEFAULT_BURN_TOOL,
    progress: Callable[[int], None] | None = None,
) -> str:
    """Read the first ``len(image)`` bytes of the disc back and compare their MD5.

    Parameters
    ----------
    image
        The ISO image that was written.
    device
        The drive (or ``stdio:`` pseudo drive) holding the disc.
    md5
        The image's MD5 when known (computed otherwise).
    progress
        Called with the number of bytes read since the last call.

    Returns
    -------
    str
        The MD5 read back (equal to the image's).

    Raises
    ------
    BurnError
        When the disc cannot be read, is shorter than the image or differs from it.
    """
    size = Path(image).stat().st_size
    expected = md5 or file_md5(Path(image))
    digest = hashlib.md5(usedforsecurity=False)
    read = 0

    def take(chunk: bytes) -> None:
        nonlocal read
        wanted = chunk[: max(0, size - read)]
        digest.update(wanted)
        read += len(wanted)
        if progress is not None and wanted:
            progress(len(wanted))

    if tool is BurnTool.IMAPI2:
        _imapi2_read(device, size, take)
    else:
        blocks = -(-size // SECTOR_BYTES)
        argv = [
            find_tool("xorriso", error=BurnError),
            "-outdev", device,
            "-check_media", "use=outdev", "what=disc", "min_lba=0",
            f"max_lba={blocks - 1}", "data_to=-", "--",
        ]  # fmt: skip
        result = run_tool(argv, error=BurnError, stdout_sink=take)
        if result.returncode != 0 and read < size:
            raise BurnError(
                f"cannot read the disc in {device} back: {tool_problems(result)}", transient=True
            )
    if read < size:
        raise BurnError(
            f"verification failed: read back {read} of {size} bytes from {device}; "
            "the disc is incomplete, do not use it",
            transient=True,
        )
    found = digest.hexdigest()
    if found != expected:
        raise BurnError(
            f"verification failed: the disc in {device} differs from {Path(image).name} "
            f"(MD5 {found} read back, {expected} expected); do not use this disc",
            transient=True,
        )
    return found


def _eject(device: str, tool: BurnTool) -> None:
    if tool is BurnTool.IMAPI2:
        _powershell(_PS_EJECT, {"IZER_DEVICE": device})
        return
    if _stdio_path(device) is not None:
        return  # a file has no tray
    xorriso = find_tool("xorriso", error=BurnError)
    run_tool([xorriso, "-outdev", device, "-eject", "all"], error=BurnError, timeout_s=60)


class _Meter:
    """Adds up bytes written and read back over all copies for the progress callback."""

    def __init__(self, progress: Callable[[int, int], None] | None, total: int) -> None:
        self.progress = progress
        self.total = total
        self.done = 0

    def to(self, done: int) -> None:
        if done > self.done:
            self.done = done
            if self.progress is not None:
                self.progress(min(self.done, self.total), self.total)

    def add(self, amount: int) -> None:
        self.to(self.done + amount)


def _mb(n: int) -> str:
    value = n / (1 << 20)
    return f"{value:.1f} MB" if value < 10 else f"{value:.0f} MB"


# --------------------------------------------------------------------------- Windows IMAPI2
# Thin and untested here: IMAPI2 COM objects driven by PowerShell; inputs through environment
# variables, never spliced into the script text.

_PS_FIND = r"""
$ErrorActionPreference = 'Stop'
function Get-IzerRecorder([string]$device) {
  $master = New-Object -ComObject IMAPI2.MsftDiscMaster2
  foreach ($id in $master) {
    $r = New-Object -ComObject IMAPI2.MsftDiscRecorder2
    $r.InitializeDiscRecorder($id)
    $paths = @($r.VolumePathNames | ForEach-Object { $_.TrimEnd('\') })
    if ($id -eq $device -or $paths -contains $device.TrimEnd('\')) { return $r }
  }
  throw "no optical drive $device"
}
"""

_PS_DRIVES = r"""
$ErrorActionPreference = 'Stop'
$master = New-Object -ComObject IMAPI2.MsftDiscMaster2
$rows = @()
foreach ($id in $master) {
  $r = New-Object -ComObject IMAPI2.MsftDiscRecorder2
  $r.InitializeDiscRecorder($id)
  $f = New-Object -ComObject IMAPI2.MsftDiscFormat2Data
  $paths = @($r.VolumePathNames)
  $rows += [pscustomobject]@{
    Device = $(if ($paths.Count) { $paths[0].TrimEnd('\') } else { $id })
    Vendor = "$($r.VendorId)".Trim(); Model = "$($r.ProductId)".Trim()
    Writable = [bool]$f.IsRecorderSupported($r) }
}
ConvertTo-Json -Compress -InputObject @($rows)
"""

_PS_STATUS = (
    _PS_FIND
    + r"""
$r = Get-IzerRecorder $env:IZER_DEVICE
$f = New-Object -ComObject IMAPI2.MsftDiscFormat2Data
$f.Recorder = $r; $f.ClientName = 'izer'
if (-not $f.IsCurrentMediaSupported($r)) {
  ConvertTo-Json -Compress -InputObject @{ Present = $false }; exit 0 }
ConvertTo-Json -Compress -InputObject @{ Present = $true
  Type = [int]$f.CurrentPhysicalMediaType; State = [int]$f.CurrentMediaStatus
  Blank = [bool]$f.MediaHeuristicallyBlank
  Free = [int64]$f.FreeSectorsOnMedia * 2048; Total = [int64]$f.TotalSectorsOnMedia * 2048 }
"""
)

_PS_WRITE = (
    _PS_FIND
    + r"""
Add-Type -TypeDefinition @'
using System; using System.Runtime.InteropServices; using System.Runtime.InteropServices.ComTypes;
public static class IzerShell {
  [DllImport("shlwapi.dll", CharSet = CharSet.Unicode, PreserveSig = false)]
  public static extern void SHCreateStreamOnFileEx(string file, uint mode, uint attributes,
    bool create, IStream template, out IStream stream);
}
'@
$r = Get-IzerRecorder $env:IZER_DEVICE
$f = New-Object -ComObject IMAPI2.MsftDiscFormat2Data
$f.Recorder = $r; $f.ClientName = 'izer'; $f.ForceMediaToBeClosed = $true
$stream = $null
[IzerShell]::SHCreateStreamOnFileEx($env:IZER_IMAGE, 0x20, 0x80, $false, $null, [ref]$stream)
$f.Write($stream)
"""
)

_PS_EJECT = (
    _PS_FIND
    + r"""
$r = Get-IzerRecorder $env:IZER_DEVICE
$r.EjectMedia()
"""
)

#: IMAPI_MEDIA_PHYSICAL_TYPE names (imapi2.h).
_IMAPI2_TYPES = {
    1: "CD-ROM", 2: "CD-R", 3: "CD-RW", 4: "DVD-ROM", 5: "DVD-RAM", 6: "DVD+R", 7: "DVD+RW",
    8: "DVD+R DL", 9: "DVD-R", 10: "DVD-RW", 11: "DVD-R DL", 12: "disk", 13: "DVD+RW DL",
    17: "BD-ROM", 18: "BD-R", 19: "BD-RE",
}  # fmt: skip
_IMAPI2_APPENDABLE = 0x4


def _powershell(script: str, env: dict[str, str], timeout_s: float | None = None) -> str:
    shell = shutil.which("powershell") or shutil.which("pwsh")
    if shell is None:
        raise BurnError("PowerShell is not available, so IMAPI2 cannot be used here")
    result = run_tool(
        [shell, "-NoProfile", "-NonInteractive", "-Command", script],
        error=BurnError,
        timeout_s=timeout_s,
        env=env,
    )
    if result.returncode != 0:
        said = " ".join(result.stderr.split())[-400:] or f"exit status {result.returncode}"
        raise BurnError(f"IMAPI2 (PowerShell) failed: {said}")
    return result.stdout


def _imapi2_drives() -> list[Drive]:
    try:
        text = _powershell(_PS_DRIVES, {}, POWERSHELL_TIMEOUT_S)
        rows = json.loads(text) if text.strip() else []
    except (BurnError, ValueError):
        return []
    rows = [rows] if isinstance(rows, dict) else rows
    return [
        Drive(str(r["Device"]), str(r["Vendor"]), str(r["Model"]), bool(r["Writable"]))
        for r in rows
    ]


def _imapi2_status(device: str) -> MediaStatus:
    data = json.loads(_powershell(_PS_STATUS, {"IZER_DEVICE": device}, POWERSHELL_TIMEOUT_S))
    if not data.get("Present"):
        return MediaStatus(device, False, False, 0, "no medium", present=False)
    kind = _IMAPI2_TYPES.get(int(data["Type"]), f"medium type {data['Type']}")
    return MediaStatus(
        device=device,
        blank=bool(data["Blank"]),
        appendable=bool(int(data["State"]) & _IMAPI2_APPENDABLE),
        free_bytes=int(data["Free"]),
        kind=kind,
        rewritable=any(word in kind for word in _REWRITABLE_KINDS),
        capacity_bytes=int(data["Total"]),
    )


def _imapi2_write(iso: Path, device: str, *, simulate: bool) -> None:
    if simulate:
        return  # IMAPI2 has no test write; the medium was checked.
    _powershell(_PS_WRITE, {"IZER_DEVICE": device, "IZER_IMAGE": str(iso.resolve())})


def _imapi2_read(device: str, size: int, take: Callable[[bytes], None]) -> None:
    """Read the raw volume ``\\\\.\\E:`` back (Windows)."""
    volume = "\\\\.\\" + device.rstrip("\\/")
    try:
        with open(volume, "rb", buffering=0) as handle:
            left = -(-size // SECTOR_BYTES) * SECTOR_BYTES
            while left > 0:
                chunk = handle.read(min(left, 32 * SECTOR_BYTES))
                if not chunk:
                    break
                take(chunk)
                left -= len(chunk)
    except OSError as exc:
        raise BurnError(f"cannot read the disc in {device} back: {exc}", transient=True) from exc
