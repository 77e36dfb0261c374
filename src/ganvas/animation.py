"""Writing frames (uint8 arrays: (N, H, W) greyscale, (N, H, W, 3) RGB or (N, H, W, 4) RGBA) as a GIF or MP4.

GIF (Pillow): always repeats forever (loop=0), as viewers expect. Greyscale stays greyscale; colour frames
get a 256-colour palette each. GIF transparency is 1-bit, so in RGBA frames alpha < 128 is transparent and
everything else opaque. Pillow stores a frame identical to the one before as a longer delay of that one: the
timing is kept, the frame count may drop.

MP4 (imageio's ffmpeg plugin, the `video` extra): H.264 has no alpha, so RGBA frames are composited onto a
background colour (default black), and odd frame sizes are padded to even ones, which H.264 needs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageColor

from ganvas.errors import GanvasError, named
from ganvas.files import atomic_path, atomic_write

FORMATS = (".gif", ".mp4")
TRANSPARENT = 255  # the GIF palette index of see-through pixels; colours get indices 0-254


def check_animation_path(path: Path) -> None:
    """Fail before any frames are made: the format must be known and, for MP4, the video extra installed."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise GanvasError(f"cannot write {str(path)!r}: animations are {' or '.join(FORMATS)}")
    if suffix == ".mp4":
        _imageio()


def write_animation(frames: np.ndarray, path: Path, fps: float = 20, scale: int = 1,
                    background: str | None = None) -> None:
    """Write `frames` to `path` (.gif or .mp4), each shown 1/fps seconds, upscaled `scale` times (nearest).

    `background` flattens transparency onto that colour; MP4 always flattens (default black).
    """
    check_animation_path(path)
    if fps <= 0:
        raise GanvasError(f"{named('fps')} must be positive, got {fps}")
    if scale < 1:
        raise GanvasError(f"{named('scale')} must be at least 1, got {scale}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    if path.suffix.lower() == ".gif":
        _write_gif(frames if background is None else flatten(frames, background), path, fps)
    else:
        _write_mp4(pad_to_even(flatten(frames, background or "black")), path, fps)


def flatten(frames: np.ndarray, background: str) -> np.ndarray:
    """RGBA frames composited onto a colour name or #hex; frames without alpha are returned as they are."""
    if frames.ndim != 4 or frames.shape[-1] != 4:
        return frames
    try:
        colour = np.array(ImageColor.getrgb(background)[:3], dtype=np.float32)
    except ValueError:
        raise GanvasError(f"unknown colour {background!r}; use a name such as 'white' or a hex code such as "
                          "'#ffeedd'") from None
    alpha = frames[..., 3:].astype(np.float32) / 255
    return (frames[..., :3] * alpha + colour * (1 - alpha)).round().astype(np.uint8)


def pad_to_even(frames: np.ndarray) -> np.ndarray:
    """Grow odd heights and widths by one row or column of the edge pixels."""
    height, width = frames.shape[1:3]
    padding = [(0, 0), (0, height % 2), (0, width % 2)] + [(0, 0)] * (frames.ndim - 3)
    return np.pad(frames, padding, mode="edge")


def _write_gif(frames: np.ndarray, path: Path, fps: float) -> None:
    images = [_gif_frame(frame) for frame in frames]
    options = {}
    if frames.ndim == 4 and frames.shape[-1] == 4:
        # Disposal 2 clears each frame before the next, so see-through parts never show the previous frame.
        options = {"transparency": TRANSPARENT, "disposal": 2}
    with atomic_write(path) as out:
        images[0].save(out, format="GIF", save_all=True, append_images=images[1:], loop=0,
                       duration=round(1000 / fps), optimize=False, **options)


def _gif_frame(frame: np.ndarray) -> Image.Image:
    if frame.ndim == 2 or frame.shape[-1] == 3:
        return Image.fromarray(np.ascontiguousarray(frame))  # Pillow picks a grey or adaptive palette
    image = Image.fromarray(np.ascontiguousarray(frame[..., :3])).quantize(TRANSPARENT)
    pixels = np.asarray(image).copy()
    pixels[frame[..., 3] < 128] = TRANSPARENT
    paletted = Image.fromarray(pixels, "P")
    paletted.putpalette(image.getpalette())
    return paletted


def _write_mp4(frames: np.ndarray, path: Path, fps: float) -> None:
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=-1)  # the encoder takes RGB
    # macro_block_size=1: the frames are already even-sized, so imageio must not resize them.
    # ffmpeg writes to a path: a temporary one, renamed into place when the video is complete.
    with atomic_path(path) as temporary, _imageio().get_writer(temporary, format="FFMPEG", fps=fps,
                                                               codec="libx264", macro_block_size=1) as writer:
        for frame in frames:
            writer.append_data(frame)


def _imageio():
    """imageio.v2 with a working ffmpeg, imported only when an MP4 is wanted."""
    try:
        import imageio.v2 as imageio
        import imageio_ffmpeg

        imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        raise GanvasError("writing MP4 needs imageio and ffmpeg: pip install 'ganvas[video]' "
                          "(or pip install imageio imageio-ffmpeg)") from None
    return imageio
