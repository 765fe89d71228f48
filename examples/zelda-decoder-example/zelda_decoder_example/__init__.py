"""Registers the ``opencv`` decoder. The reader module (and OpenCV) loads only when a
recipe builds it, so ``zelda --help`` and ``zelda plugins`` stay instant."""

from zelda_core.api import hookimpl


@hookimpl
def register_decoders(register):
    register("opencv", "zelda_decoder_example.reader:OpenCVReader",
             help="OpenCV (cv2.VideoCapture), sequential decoding, frame-accurate")
