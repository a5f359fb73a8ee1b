"""A small BSATN codec for the tests (spec/spacetimedb.md §5): a writer for
client messages and a bounds-checked reader for server messages."""
import struct


class W:
    def __init__(self):
        self.b = bytearray()

    def u8(self, v):
        self.b += struct.pack("<B", v)
        return self

    def u32(self, v):
        self.b += struct.pack("<I", v)
        return self

    def i64(self, v):
        self.b += struct.pack("<q", v)
        return self

    def u64(self, v):
        self.b += struct.pack("<Q", v)
        return self

    def str(self, s):
        e = s.encode()
        return self.u32(len(e)).raw(e)

    def bytes(self, p):
        return self.u32(len(p)).raw(p)

    def raw(self, p):
        self.b += p
        return self

    def strs(self, xs):
        self.u32(len(xs))
        for x in xs:
            self.str(x)
        return self

    def done(self):
        return bytes(self.b)


class R:
    def __init__(self, data):
        self.d = bytes(data)
        self.o = 0

    def take(self, n):
        assert self.o + n <= len(self.d), f"short read at {self.o} (+{n} of {len(self.d)})"
        p = self.d[self.o:self.o + n]
        self.o += n
        return p

    def u8(self):
        return self.take(1)[0]

    def bool(self):
        v = self.u8()
        assert v in (0, 1)
        return v == 1

    def u16(self):
        return struct.unpack("<H", self.take(2))[0]

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def i8(self):
        return struct.unpack("<b", self.take(1))[0]

    def i16(self):
        return struct.unpack("<h", self.take(2))[0]

    def i32(self):
        return struct.unpack("<i", self.take(4))[0]

    def i64(self):
        return struct.unpack("<q", self.take(8))[0]

    def f32(self):
        return struct.unpack("<f", self.take(4))[0]

    def f64(self):
        return struct.unpack("<d", self.take(8))[0]

    def u128(self):
        return int.from_bytes(self.take(16), "little")

    def u256(self):
        return int.from_bytes(self.take(32), "little")

    def bytes(self):
        return self.take(self.u32())

    def str(self):
        return self.bytes().decode()

    def option(self, f):
        tag = self.u8()
        assert tag in (0, 1)
        return f() if tag == 0 else None

    def array(self, f):
        return [f() for _ in range(self.u32())]

    def end(self):
        assert self.o == len(self.d), f"{len(self.d) - self.o} bytes left over"

    def rowlist(self, row):
        """A RowList: RowOffsets checked against the rows decoded with row(reader)."""
        tag = self.u8()
        assert tag == 1, "always RowOffsets"
        offs = self.array(self.u64)
        data = self.bytes()
        rr = R(data)
        rows, starts = [], []
        while rr.o < len(data):
            starts.append(rr.o)
            rows.append(row(rr))
        assert starts == offs, (starts, offs)
        return rows


def identity_hex(n):
    """An identity read as u256 → the 64 hex digits we print."""
    return n.to_bytes(32, "big").hex()


def string_row(r):
    return (r.str(),)
