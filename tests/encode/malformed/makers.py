"""Input files made at test time: good images of every format, and broken ones.

Nothing here is committed as a binary; each function writes a small file and returns its path.
"""

from __future__ import annotations

import struct
import wave
import zlib
from pathlib import Path

import imagecodecs
import numpy as np


def rgb(rows: int = 48, columns: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth colour image with some texture (uint8 RGB)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:columns]
    base = np.stack([x * 255 // max(columns - 1, 1), y * 255 // max(rows - 1, 1), (x + y) % 256])
    noisy = base.transpose(1, 2, 0) + rng.integers(0, 16, (rows, columns, 3))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def gray16(rows: int = 40, columns: int = 50, seed: int = 1, top: int = 65535) -> np.ndarray:
    """Random 16-bit grayscale values in ``0..top``."""
    return np.random.default_rng(seed).integers(0, top + 1, (rows, columns), dtype=np.uint16)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def jpeg(path: Path, pixels: np.ndarray | None = None, subsampling: str | None = "420") -> Path:
    """A baseline JPEG (libjpeg-turbo), 4:2:0 by default for colour."""
    pixels = rgb() if pixels is None else pixels
    options = {"subsampling": subsampling} if pixels.ndim == 3 else {}
    return write(path, bytes(imagecodecs.jpeg8_encode(pixels, level=90, **options)))


def png(path: Path, pixels: np.ndarray | None = None) -> Path:
    return write(path, bytes(imagecodecs.png_encode(rgb() if pixels is None else pixels)))


def tiff(path: Path, pages: list[np.ndarray]) -> Path:
    """A TIFF with one page per array (pages of different sizes allowed)."""
    data = bytes(imagecodecs.tiff_encode(pages[0]))
    for page in pages[1:]:
        data = bytes(imagecodecs.tiff_encode(page, appendto=data))
    return write(path, data)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_with_header(path: Path, columns: int, rows: int) -> Path:
    """A tiny PNG whose IHDR claims ``columns`` x ``rows`` (8-bit RGB), with one empty IDAT."""
    ihdr = struct.pack(">IIBBBBB", columns, rows, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
    data += png_chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + png_chunk(b"IEND", b"")
    return write(path, data)


def palette_png(path: Path, columns: int = 6, rows: int = 4) -> Path:
    """An 8-bit palette PNG with red, green and blue entries (colour type 3)."""
    ihdr = struct.pack(">IIBBBBB", columns, rows, 8, 3, 0, 0, 0)
    plte = bytes([255, 0, 0, 0, 255, 0, 0, 0, 255])
    raw = b"".join(b"\x00" + bytes((x + y) % 3 for x in range(columns)) for y in range(rows))
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"PLTE", plte)
    data += png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b"")
    return write(path, data)


def jpeg_with_size(path: Path, columns: int, rows: int) -> Path:
    """A real small JPEG whose SOF0 is patched to claim ``columns`` x ``rows``."""
    data = bytearray(imagecodecs.jpeg8_encode(rgb(16, 16), level=90))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, rows, columns)
    return write(path, bytes(data))


def tiff_with_size(path: Path, columns: int, rows: int) -> Path:
    """A small TIFF whose ImageWidth / ImageLength tags are patched."""
    data = bytearray(imagecodecs.tiff_encode(np.zeros((8, 8), np.uint8)))
    (offset,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, offset)
    for index in range(count):
        entry = offset + 2 + 12 * index
        (tag,) = struct.unpack_from("<H", data, entry)
        if tag in (256, 257):
            value = columns if tag == 256 else rows
            struct.pack_into("<HHII", data, entry, tag, 4, 1, value)
    return write(path, bytes(data))


def bmp_with_size(path: Path, columns: int, rows: int) -> Path:
    data = bytearray(imagecodecs.bmp_encode(rgb(8, 8)))
    struct.pack_into("<ii", data, 18, columns, rows)
    return write(path, bytes(data))


def cmyk_jpeg(path: Path) -> Path:
    pixels = np.random.default_rng(3).integers(0, 255, (16, 24, 4), dtype=np.uint8)
    encoded = imagecodecs.jpeg8_encode(pixels, colorspace="CMYK", outcolorspace="CMYK")
    return write(path, bytes(encoded))


def gif(path: Path) -> Path:
    return write(path, bytes(imagecodecs.gif_encode(np.zeros((4, 4), np.uint8))))


def j2k(path: Path, pixels: np.ndarray | None = None, *, jp2: bool = False, **kwargs) -> Path:  # type: ignore[no-untyped-def]
    pixels = rgb() if pixels is None else pixels
    codec = "JP2" if jp2 else "J2K"
    return write(path, bytes(imagecodecs.jpeg2k_encode(pixels, codecformat=codec, **kwargs)))


def pdf(path: Path, *, encrypt: str | None = None) -> Path:
    """A one-page PDF made with reportlab (encrypted with ``encrypt`` as password)."""
    from reportlab.pdfgen import canvas

    path.parent.mkdir(parents=True, exist_ok=True)
    page = canvas.Canvas(str(path), encrypt=encrypt)
    page.drawString(72, 720, "Made-up report for Testperson^Jurgen")
    page.save()
    return path


def wav(path: Path, seconds: float = 0.5, rate: int = 16000) -> Path:
    """A mono 16-bit WAV of a tone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = (np.sin(np.arange(int(seconds * rate)) * 0.2) * 8000).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path
