"""RecordIO, the framing of Mesos event streams: ``<length>\\n<length bytes>`` repeated.

The length is ASCII decimal, counts bytes (not characters), is never 0, and the next length
follows the data directly. HTTP chunk boundaries have nothing to do with record boundaries,
so ``Parser.feed`` accepts any slicing of the stream and returns the records it completed.

Part of the contract layer because both Mesos APIs use it: the executor's stream from its
agent and the scheduler's from the master. Standard library only.
"""

from __future__ import annotations

MAX_RECORD = 64 << 20  # a bound against a corrupt length; Mesos events are far smaller
MAX_DIGITS = 20  # a uint64 in decimal


class RecordIOError(ValueError):
    pass


def encode(record: bytes) -> bytes:
    if not record:
        raise RecordIOError("a record may not be empty")
    return b"%d\n" % len(record) + record


class Parser:
    def __init__(self, max_record: int = MAX_RECORD) -> None:
        self._buffer = bytearray()
        self._need: int | None = None  # the current record's length, once read
        self.max_record = max_record

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        records: list[bytes] = []
        while True:
            if self._need is None:
                newline = self._buffer.find(b"\n", 0, MAX_DIGITS + 1)
                if newline < 0:
                    if len(self._buffer) > MAX_DIGITS:
                        raise RecordIOError("no record length within 20 bytes")
                    if self._buffer and not bytes(self._buffer).isdigit():
                        raise RecordIOError(f"bad record length {bytes(self._buffer)!r}")
                    return records
                digits = bytes(self._buffer[:newline])
                if not digits.isdigit():
                    raise RecordIOError(f"bad record length {digits!r}")
                length = int(digits)
                if length == 0 or length > self.max_record:
                    raise RecordIOError(f"record length {length} out of range")
                del self._buffer[: newline + 1]
                self._need = length
            if len(self._buffer) < self._need:
                return records
            records.append(bytes(self._buffer[: self._need]))
            del self._buffer[: self._need]
            self._need = None

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a whole record."""
        return len(self._buffer)
