package pdb

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// cursor reads little-endian values from a byte slice. Reads past the end
// set err and return zero values, so that a parser can read a whole record
// and check once.
type cursor struct {
	b   []byte
	off int
	err error
}

func (c *cursor) fail(n int) {
	if c.err == nil {
		c.err = fmt.Errorf("%d bytes needed at offset %d, %d left", n, c.off, len(c.b)-c.off)
	}
}

func (c *cursor) left() int { return len(c.b) - c.off }

func (c *cursor) take(n int) []byte {
	if n < 0 || c.err != nil || c.left() < n {
		c.fail(n)
		c.off = len(c.b)
		return nil
	}
	s := c.b[c.off : c.off+n]
	c.off += n
	return s
}

func (c *cursor) skip(n int) { c.take(n) }

func (c *cursor) u8() uint8 {
	s := c.take(1)
	if s == nil {
		return 0
	}
	return s[0]
}

func (c *cursor) u16() uint16 {
	s := c.take(2)
	if s == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(s)
}

func (c *cursor) u32() uint32 {
	s := c.take(4)
	if s == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(s)
}

func (c *cursor) u64() uint64 {
	s := c.take(8)
	if s == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(s)
}

// cstr reads a NUL-terminated string; without a terminator it takes the
// rest of the buffer, as the Microsoft tools do for the last name of a
// record.
func (c *cursor) cstr() string {
	if c.err != nil {
		return ""
	}
	rest := c.b[c.off:]
	i := bytes.IndexByte(rest, 0)
	if i < 0 {
		c.off = len(c.b)
		return string(rest)
	}
	c.off += i + 1
	return string(rest[:i])
}

// align moves to the next multiple of n (relative to the buffer start),
// without failing when the padding runs past the end.
func (c *cursor) align(n int) {
	if r := c.off % n; r != 0 {
		c.off += n - r
		if c.off > len(c.b) {
			c.off = len(c.b)
		}
	}
}

// numeric reads a CodeView numeric leaf: a value below 0x8000 stands for
// itself, larger values name the type of the value that follows.
func (c *cursor) numeric() uint64 {
	v := c.u16()
	if v < 0x8000 {
		return uint64(v)
	}
	switch v {
	case 0x8000: // LF_CHAR
		return uint64(int64(int8(c.u8())))
	case 0x8001: // LF_SHORT
		return uint64(int64(int16(c.u16())))
	case 0x8002: // LF_USHORT
		return uint64(c.u16())
	case 0x8003: // LF_LONG
		return uint64(int64(int32(c.u32())))
	case 0x8004: // LF_ULONG
		return uint64(c.u32())
	case 0x8009, 0x800a: // LF_QUADWORD, LF_UQUADWORD
		return c.u64()
	}
	if c.err == nil {
		c.err = fmt.Errorf("numeric leaf of kind %#x is not supported", v)
	}
	return 0
}

func u16at(b []byte, off int) (uint16, bool) {
	if off < 0 || off+2 > len(b) {
		return 0, false
	}
	return binary.LittleEndian.Uint16(b[off:]), true
}

func u32at(b []byte, off int) (uint32, bool) {
	if off < 0 || off+4 > len(b) {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b[off:]), true
}
