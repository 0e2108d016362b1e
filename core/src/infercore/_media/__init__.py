"""Media for multimodal requests: loaders for images, videos and audio, and a safe fetcher.

Importing this package needs none of the optional packages: each loader imports its own
(Pillow for images, decord and PyAV for videos, soundfile and numpy for audio) and says
which extra installs it when it is missing.

===================  ===================================================================
module               holds
===================  ===================================================================
``_errors``          ``MediaError`` and its kinds, each with a ``reason`` and a ``status``
``_limits``          ``MediaLimits``: budgets, caps and where media may come from
``_addresses``       which IP addresses may be fetched from (pure)
``_policy``          which URLs: scheme and domain (pure)
``_resolve``         DNS, once per hop, in a thread pool of its own
``_body``            a response body under a byte cap (compressed or not)
``_fetch``           ``MediaFetcher``: http(s) under all of the above, redirects re-checked
``_local``           local files: confined to the allowed folder after following links
``_source``          a source string to bytes: URL, data URI, base64, file URL or path
``_pixels``          the size that fits a pixel budget
``_image``           ``load_image``
``_video``           ``load_video``, ``VideoClip``
``_resample``        polyphase resampling in numpy
``_audio``           ``load_audio``
===================  ===================================================================
"""

from infercore._media._addresses import address_kind, is_address_allowed
from infercore._media._audio import decode_audio, load_audio
from infercore._media._errors import (
    MediaCountError,
    MediaDecodeError,
    MediaDependencyError,
    MediaError,
    MediaFetchError,
    MediaReason,
    MediaRefusedError,
    MediaTimeoutError,
    MediaTooLargeError,
)
from infercore._media._fetch import MediaFetcher
from infercore._media._image import ImageSource, decode_image, load_image, prepare_image
from infercore._media._limits import ENVIRONMENT_VARIABLES, MediaLimits, Modality
from infercore._media._pixels import fit_pixels
from infercore._media._resample import resample, resampled_length
from infercore._media._source import MediaSource, classify_source, read_source
from infercore._media._video import VideoClip, decode_video, load_video, sample_indices

__all__ = [
    "ENVIRONMENT_VARIABLES",
    "ImageSource",
    "MediaCountError",
    "MediaDecodeError",
    "MediaDependencyError",
    "MediaError",
    "MediaFetchError",
    "MediaFetcher",
    "MediaLimits",
    "MediaReason",
    "MediaRefusedError",
    "MediaSource",
    "MediaTimeoutError",
    "MediaTooLargeError",
    "Modality",
    "VideoClip",
    "address_kind",
    "classify_source",
    "decode_audio",
    "decode_image",
    "decode_video",
    "fit_pixels",
    "is_address_allowed",
    "load_audio",
    "load_image",
    "load_video",
    "prepare_image",
    "read_source",
    "resample",
    "resampled_length",
    "sample_indices",
]
