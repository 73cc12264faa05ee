"""The live preview: the newest frame with its aspect kept (letterboxed on black), a second
source as picture-in-picture or side by side, the capture flash and the recording frame.

The capture screen polls the engine for the newest frame at the display rate and hands it
over with :meth:`PreviewWidget.set_frame`; the widget wraps the frame's pixels in a QImage
without copying them (:func:`frame_image`) and paints only when a new frame came.
"""

from __future__ import annotations

import enum

import numpy as np
from PyQt6.QtCore import QEasingCurve, QRect, QRectF, QSize, Qt, QVariantAnimation
from PyQt6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent, QPen
from PyQt6.QtWidgets import QSizePolicy, QWidget

from izer.gui.theme import RECORD_RED, TEXT, TEXT_MUTED, WARNING_AMBER

#: How long the capture flash takes to fade (milliseconds).
FLASH_MS = 150
#: Width of the picture-in-picture inset, as a part of the preview's width.
PIP_FRACTION = 0.28


class SecondView(enum.StrEnum):
    """How the second source is shown next to the main one."""

    PIP = "pip"
    SPLIT = "split"
    HIDDEN = "hidden"

    @property
    def label(self) -> str:
        return {"pip": "Inset", "split": "Side by side", "hidden": "Hidden"}[self.value]


class RecordingLook(enum.Enum):
    """The frame drawn around the preview: none, recording (red) or paused (amber)."""

    IDLE = 0
    RECORDING = 1
    PAUSED = 2


def frame_image(pixels: np.ndarray, bits_stored: int = 8) -> QImage:
    """``pixels`` as a QImage, sharing the array's memory where the layout allows.

    ``(rows, columns, 3)`` uint8 RGB, ``(rows, columns, 4)`` uint8 RGBA and ``(rows, columns)``
    uint8 grayscale with C-contiguous rows are wrapped without a copy (the caller keeps the
    array alive as long as the image: :class:`PreviewWidget` holds both); uint16 grayscale
    holding ``bits_stored`` significant bits is scaled to 16 bits (a copy).

    Raises
    ------
    ValueError
        For any other shape or type (the message names it).
    """
    if pixels.dtype == np.uint16 and pixels.ndim == 2:
        shift = max(0, 16 - int(bits_stored))
        pixels = np.ascontiguousarray(pixels << shift if shift else pixels)
        fmt = QImage.Format.Format_Grayscale16
    elif pixels.dtype != np.uint8:
        raise ValueError(f"a preview frame must be uint8 or uint16, not {pixels.dtype}")
    elif pixels.ndim == 2:
        fmt = QImage.Format.Format_Grayscale8
    elif pixels.ndim == 3 and pixels.shape[2] == 3:
        fmt = QImage.Format.Format_RGB888
    elif pixels.ndim == 3 and pixels.shape[2] == 4:
        fmt = QImage.Format.Format_RGBA8888
    else:
        raise ValueError(f"a preview frame must be RGB, RGBA or grayscale, not {pixels.shape}")
    packed = pixels.strides[1] == pixels.itemsize * (pixels.shape[2] if pixels.ndim == 3 else 1)
    if not packed or (pixels.ndim == 3 and pixels.strides[2] != 1) or pixels.strides[0] < 0:
        pixels = np.ascontiguousarray(pixels)
    rows, columns = pixels.shape[:2]
    image = QImage(pixels.data, columns, rows, pixels.strides[0], fmt)
    image.izer_pixels = pixels  # type: ignore[attr-defined]  # keeps the memory alive
    return image


def fitted(size: QSize, area: QRect) -> QRect:
    """The largest rectangle of ``size``'s aspect centred in ``area`` (letterbox/pillarbox)."""
    if size.isEmpty() or area.isEmpty():
        return QRect(area)
    scale = min(area.width() / size.width(), area.height() / size.height())
    width, height = round(size.width() * scale), round(size.height() * scale)
    return QRect(
        area.x() + (area.width() - width) // 2,
        area.y() + (area.height() - height) // 2,
        width,
        height,
    )


class PreviewWidget(QWidget):
    """Paints the newest frame of the main channel and, if there is one, the second.

    Attributes
    ----------
    painted_frames
        How many new frames were handed over since the widget was made (for tests and a
        frame-rate readout).
    flashes
        How many capture flashes were shown.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("preview")
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 180)
        self._images: dict[str, QImage] = {}
        self._numbers: dict[str, int] = {}
        self._second_view = SecondView.PIP
        self._look = RecordingLook.IDLE
        self._message = ""
        self._flash = 0.0
        self._flash_animation = QVariantAnimation(self)
        self._flash_animation.setDuration(FLASH_MS)
        self._flash_animation.setStartValue(0.85)
        self._flash_animation.setEndValue(0.0)
        self._flash_animation.setEasingCurve(QEasingCurve.Type.OutQuad)
        self._flash_animation.valueChanged.connect(self._set_flash)
        self.painted_frames = 0
        self.flashes = 0

    # -- what to show -------------------------------------------------------------------------

    def set_frame(
        self,
        pixels: np.ndarray | None,
        *,
        channel: str = "main",
        number: int | None = None,
        bits_stored: int = 8,
    ) -> bool:
        """Show ``pixels`` for ``channel`` (``None`` forgets the channel).

        ``number`` is the source's frame number: the same number again does not repaint.
        Returns whether a new frame was taken.
        """
        if pixels is None:
            if self._images.pop(channel, None) is not None:
                self._numbers.pop(channel, None)
                self.update()
            return False
        if number is not None and self._numbers.get(channel) == number:
            return False
        self._images[channel] = frame_image(pixels, bits_stored)
        if number is not None:
            self._numbers[channel] = number
        self.painted_frames += 1
        self.update()
        return True

    def image(self, channel: str = "main") -> QImage | None:
        """The frame shown now for ``channel`` (shares the frame's memory)."""
        return self._images.get(channel)

    def set_second_view(self, view: SecondView) -> None:
        """Picture-in-picture, side by side, or the second source hidden."""
        self._second_view = SecondView(view)
        self.update()

    @property
    def second_view(self) -> SecondView:
        return self._second_view

    def set_recording_look(self, look: RecordingLook) -> None:
        """A red frame while recording, an amber one while paused, none otherwise."""
        if look is not self._look:
            self._look = look
            self.update()

    @property
    def recording_look(self) -> RecordingLook:
        return self._look

    def set_message(self, text: str) -> None:
        """Text shown over the preview (e.g. "Starting the camera", "No signal")."""
        if text != self._message:
            self._message = text
            self.update()

    @property
    def message(self) -> str:
        return self._message

    def flash(self) -> None:
        """A white flash over the whole preview, fading in :data:`FLASH_MS` milliseconds."""
        self.flashes += 1
        self._flash_animation.stop()
        self._set_flash(self._flash_animation.startValue())
        self._flash_animation.start()

    @property
    def flashing(self) -> bool:
        return self._flash > 0.0

    def _set_flash(self, value: object) -> None:
        self._flash = float(value)  # type: ignore[arg-type]
        self.update()

    # -- painting -----------------------------------------------------------------------------

    def sizeHint(self) -> QSize:
        return QSize(1280, 720)

    def layout_rects(self) -> dict[str, QRect]:
        """Where each channel's picture goes in the widget now."""
        area = self.rect()
        main = self._images.get("main")
        second = self._images.get("second")
        rects: dict[str, QRect] = {}
        if second is not None and self._second_view is SecondView.SPLIT:
            half = area.width() // 2
            left = QRect(area.x(), area.y(), half - 2, area.height())
            right = QRect(area.x() + half + 2, area.y(), area.width() - half - 2, area.height())
            if main is not None:
                rects["main"] = fitted(main.size(), left)
            rects["second"] = fitted(second.size(), right)
            return rects
        if main is not None:
            rects["main"] = fitted(main.size(), area)
        if second is not None and self._second_view is SecondView.PIP:
            anchor = rects.get("main", area)  # the inset sits in the main picture's corner
            width = round(anchor.width() * PIP_FRACTION)
            inset = fitted(second.size(), QRect(0, 0, width, anchor.height() // 2))
            margin = max(8, anchor.width() // 80)
            inset.moveTo(
                anchor.right() - inset.width() - margin, anchor.bottom() - inset.height() - margin
            )
            rects["second"] = inset
        return rects

    def paintEvent(self, event: QPaintEvent | None) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), Qt.GlobalColor.black)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        rects = self.layout_rects()
        for channel in ("main", "second"):
            image = self._images.get(channel)
            target = rects.get(channel)
            if image is None or target is None:
                continue
            painter.drawImage(QRectF(target), image)
            if channel == "second" and self._second_view is SecondView.PIP:
                painter.setPen(QPen(QColor(TEXT), 2))
                painter.drawRect(target.adjusted(-1, -1, 0, 0))
        if self._message:
            self._paint_message(painter)
        if self._look is not RecordingLook.IDLE:
            colour = RECORD_RED if self._look is RecordingLook.RECORDING else WARNING_AMBER
            width = max(6, self.width() // 160)
            painter.setPen(QPen(QColor(colour), width))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            half = width // 2
            painter.drawRect(self.rect().adjusted(half, half, -half - 1, -half - 1))
        if self._flash > 0.0:
            white = QColor(255, 255, 255)
            white.setAlphaF(min(1.0, self._flash))
            painter.fillRect(self.rect(), white)
        painter.end()

    def _paint_message(self, painter: QPainter) -> None:
        font = QFont(self.font())
        font.setPointSizeF(max(14.0, font.pointSizeF() * 1.4))
        font.setWeight(QFont.Weight.DemiBold)
        painter.setFont(font)
        box = self.rect().adjusted(40, 40, -40, -40)
        colour = QColor(TEXT if not self._images else TEXT_MUTED)
        if self._images:  # text over a picture: a dark band behind it
            band = QRect(0, self.height() // 2 - 40, self.width(), 80)
            painter.fillRect(band, QColor(0, 0, 0, 170))
            colour = QColor(TEXT)
        painter.setPen(colour)
        painter.drawText(
            box, int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), self._message
        )
