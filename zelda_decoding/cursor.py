"""Where demuxing one video stream stands, by decode position: the packet cursor the
pyav reader and the decord feed share.

Positions are the packet index's (``zelda_decoding.index``): packet number in decode order.
``goto(pos)`` makes ``pos`` the next packet: it reads through gaps of at most
``READ_AHEAD`` packets and seeks otherwise (or when going backwards).
"""

from __future__ import annotations

from typing import Any

from .index import PacketIndex, packet_time, seek_packets

__all__ = ["READ_AHEAD", "IndexMismatch", "PacketCursor"]

READ_AHEAD = 48
"""Gaps of at most this many packets are crossed by reading, not seeking."""


class IndexMismatch(LookupError):
    """The demuxer yields a packet the index puts elsewhere (a later one than asked for)."""


class PacketCursor:
    """Demux iterator over ``stream`` with one packet of pushback and its position."""

    def __init__(self, container: Any, stream: Any, index: PacketIndex) -> None:
        self.container, self.stream, self.index = container, stream, index
        self.packets: Any = None  # demux iterator; None: positioned nowhere
        self.pushback: Any = None  # one packet read but not consumed
        self.next_pos: int | None = None  # decode position of the next packet, if known

    def reset(self) -> None:
        """Forget the position; the next ``goto`` seeks."""
        self.packets = self.pushback = self.next_pos = None

    def restart(self, container: Any, stream: Any) -> None:
        """Demux ``stream`` of ``container`` (e.g. a reopened file) from its first packet."""
        self.container, self.stream = container, stream
        self.packets = container.demux(stream)
        self.pushback = self.next_pos = None

    def position(self, pkt: Any) -> int | None:
        """Decode position of a demuxed packet (None when the index does not know it)."""
        return self.index.pos_of_pts(packet_time(pkt))

    def next(self) -> Any:
        """The next non-empty packet, or None at the end."""
        if self.pushback is not None:
            pkt, self.pushback = self.pushback, None
            return pkt
        if self.packets is None:
            return None
        for pkt in self.packets:
            if pkt.size:
                return pkt
        self.packets = None
        return None

    def push(self, pkt: Any, pos: int) -> None:
        """Give back ``pkt`` (at ``pos``): it is the next packet again."""
        self.pushback, self.next_pos = pkt, pos

    def goto(self, pos: int, *, read_ahead: int = READ_AHEAD) -> None:
        """Make packet ``pos`` the next one (LookupError when the file does not yield
        it: IndexMismatch when the demuxer yields a later packet instead). Gaps of at most
        ``read_ahead`` packets are read through, larger ones seek."""
        near = self.next_pos is not None and self.next_pos <= pos <= self.next_pos + read_ahead
        if not near:
            self.packets, self.pushback = seek_packets(self.container, self.stream, self.index, pos)
        while True:
            pkt = self.next()
            if pkt is None:
                self.next_pos = None
                raise LookupError(f"packet {pos} not found after seeking")
            p = self.position(pkt)
            if p is not None and p >= pos:
                if p > pos:
                    self.next_pos = None
                    raise IndexMismatch(f"packet {pos} not found")
                self.push(pkt, p)
                return
