"""Display order of H.264 pictures from their slice headers, without decoding.

AVI and raw streams carry no presentation timestamps, so a reader cannot tell which
decoded frame is frame i unless it counts every output frame, which forbids skipping
frames. For H.264 the display order is in the bitstream: the picture order count
(POC) of each picture, reset at every IDR picture. This module parses just enough of
the SPS, PPS and the first slice header of each packet to compute it (POC types 0 and
2, frame pictures), and gives up (raises ValueError, IndexError or KeyError) on anything
else, so callers fall back to counting.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["H264Order", "nal_spans"]

HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


class _Bits:
    """MSB-first bit reader over an RBSP (emulation prevention bytes removed)."""

    def __init__(self, data: bytes) -> None:
        self.data = data.replace(b"\x00\x00\x03", b"\x00\x00")
        self.pos = 0

    def u(self, n: int) -> int:
        v = 0
        for _ in range(n):
            byte = self.data[self.pos >> 3]  # IndexError past the end: caller gives up
            v = (v << 1) | ((byte >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def _scaling_list(b: _Bits, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt:
            nxt = (last + b.se() + 256) % 256
        last = nxt or last


def _parse_sps(rbsp: bytes) -> tuple[int, dict]:
    b = _Bits(rbsp)
    profile = b.u(8)
    b.u(16)  # constraint flags, level
    sps_id = b.ue()
    sep_colour = 0
    if profile in HIGH_PROFILES:
        chroma = b.ue()
        if chroma == 3:
            sep_colour = b.u(1)
        b.ue()
        b.ue()
        b.u(1)
        if b.u(1):
            for i in range(12 if chroma == 3 else 8):
                if b.u(1):
                    _scaling_list(b, 16 if i < 6 else 64)
    sps = {"log2_max_frame_num": b.ue() + 4, "poc_type": b.ue(), "sep_colour": sep_colour}
    if sps["poc_type"] == 0:
        sps["log2_max_poc_lsb"] = b.ue() + 4
    elif sps["poc_type"] == 1:
        raise ValueError("POC type 1 is not supported")
    b.ue()  # max_num_ref_frames
    b.u(1)
    b.ue()
    b.ue()
    sps["frame_mbs_only"] = b.u(1)
    return sps_id, sps


def _parse_pps(rbsp: bytes) -> tuple[int, dict]:
    b = _Bits(rbsp)
    pps_id = b.ue()
    sps_id = b.ue()
    b.u(1)  # entropy_coding_mode_flag
    return pps_id, {"sps_id": sps_id, "bottom_poc_present": b.u(1)}


def nal_spans(data: Any, length_size: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each NAL unit of one packet: length-prefixed (avcC/hvcC, with
    ``length_size``-byte lengths) or, for ``length_size`` 0, Annex B start codes (then
    ``data`` must be bytes)."""
    n = len(data)
    if length_size:
        i = 0
        while i + length_size <= n:
            size = int.from_bytes(data[i : i + length_size], "big")
            yield i + length_size, min(i + length_size + size, n)
            i += length_size + size
        return
    starts = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        starts.append(i + 3)
        i = data.find(b"\x00\x00\x01", i + 3)
    for k, s in enumerate(starts):
        if k + 1 == len(starts):
            yield s, n
            return
        end = starts[k + 1] - 3
        while end > s and data[end - 1] == 0:  # the next 4-byte start code's leading zero
            end -= 1
        yield s, end


def _nal_units(data: bytes, length_size: int) -> list[bytes]:
    """NAL units of one packet: length-prefixed (avcC) or Annex B start codes."""
    return [data[s:e] for s, e in nal_spans(data, length_size)]


class H264Order:
    """Feed packets in decode order; ``result()`` gives (display rank, is IDR) per packet."""

    def __init__(self, extradata: bytes | None) -> None:
        self.sps: dict[int, dict] = {}
        self.pps: dict[int, dict] = {}
        self.length_size = 0
        self.pics: list[tuple[int, int, bool]] = []  # (segment, poc, idr) per packet
        self.segment = -1
        self.prev_msb = self.prev_lsb = 0
        if extradata:
            if extradata[0] == 1 and len(extradata) > 6:  # avcC
                self.length_size = (extradata[4] & 3) + 1
                self._avcc_params(extradata)
            else:
                for nal in _nal_units(extradata, 0):
                    self._param(nal)

    def _avcc_params(self, ex: bytes) -> None:
        i = 5
        for count_mask in (0x1F, 0xFF):
            count = ex[i] & count_mask
            i += 1
            for _ in range(count):
                n = int.from_bytes(ex[i : i + 2], "big")
                self._param(ex[i + 2 : i + 2 + n])
                i += 2 + n

    def _param(self, nal: bytes) -> None:
        if not nal:
            return
        t = nal[0] & 0x1F
        if t == 7:
            k, v = _parse_sps(nal[1:])
            self.sps[k] = v
        elif t == 8:
            k, v = _parse_pps(nal[1:])
            self.pps[k] = v

    def add(self, data: bytes) -> None:
        """Parse one packet (one picture); raises ValueError/IndexError when unsure."""
        picture = None
        for nal in _nal_units(data, self.length_size):
            if not nal:
                continue
            t = nal[0] & 0x1F
            if t in (7, 8):
                self._param(nal)
            elif t in (1, 5):
                b = _Bits(nal[1:64])
                if b.ue() != 0:  # not the first slice of a picture
                    continue
                if picture is not None:
                    raise ValueError("two pictures in one packet")
                picture = self._slice(b, t == 5, (nal[0] >> 5) & 3)
        if picture is None:
            raise ValueError("packet without a picture")
        self.pics.append(picture)

    def _slice(self, b: _Bits, idr: bool, ref_idc: int) -> tuple[int, int, bool]:
        b.ue()  # slice_type
        pps = self.pps[b.ue()]
        sps = self.sps[pps["sps_id"]]
        if sps["sep_colour"]:
            b.u(2)
        frame_num = b.u(sps["log2_max_frame_num"])
        if not sps["frame_mbs_only"] and b.u(1):
            raise ValueError("field pictures are not supported")
        if idr:
            b.ue()
            self.segment += 1
            self.prev_msb = self.prev_lsb = 0
        elif self.segment < 0:
            raise ValueError("stream does not start with an IDR picture")
        if sps["poc_type"] == 2:
            return self.segment, len(self.pics), idr  # display order is decode order
        lsb = b.u(sps["log2_max_poc_lsb"])
        max_lsb = 1 << sps["log2_max_poc_lsb"]
        if lsb < self.prev_lsb and self.prev_lsb - lsb >= max_lsb // 2:
            msb = self.prev_msb + max_lsb
        elif lsb > self.prev_lsb and lsb - self.prev_lsb > max_lsb // 2:
            msb = self.prev_msb - max_lsb
        else:
            msb = self.prev_msb
        if ref_idc:
            self.prev_msb, self.prev_lsb = msb, lsb
        del frame_num
        return self.segment, msb + lsb, idr

    def result(self) -> tuple[list[int], list[bool]]:
        """Display rank and IDR flag of every packet added, in decode order."""
        if len({p[:2] for p in self.pics}) != len(self.pics):
            raise ValueError("two pictures with the same POC")
        order = sorted(range(len(self.pics)), key=lambda d: self.pics[d][:2])
        rank = [0] * len(order)
        for r, d in enumerate(order):
            rank[d] = r
        return rank, [p[2] for p in self.pics]

