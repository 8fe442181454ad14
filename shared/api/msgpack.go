package api

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
)

// sentry-native's Crashpad backend attaches the crash's event (scope,
// release, user, event id, …) to the report as the file __sentry-event,
// MessagePack-encoded. The minidump route keeps it as JSON with the other
// annotations and takes the event id from it, as Sentry does.

// msgpackMaxDepth bounds nesting; Sentry events nest a handful of levels.
const msgpackMaxDepth = 64

// decodeMsgpack decodes one MessagePack value that must fill b, into the
// values encoding/json writes: nil, bool, int64, uint64, float64, string,
// []byte (binary), []any and map[string]any. Non-string map keys are
// written as their JSON text; extension values and non-finite floats, which
// JSON cannot hold, become nil. It never reads outside b, and a length
// prefix can allocate no more elements than the bytes left could hold,
// since every element takes at least one byte.
func decodeMsgpack(b []byte) (any, error) {
	d := msgpackDecoder{b: b}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if d.off != len(b) {
		return nil, fmt.Errorf("msgpack: %d bytes after the value at byte %d", len(b)-d.off, d.off)
	}
	return v, nil
}

type msgpackDecoder struct {
	b   []byte
	off int
}

func (d *msgpackDecoder) errorf(format string, a ...any) error {
	return fmt.Errorf("msgpack: at byte %d: %s", d.off, fmt.Sprintf(format, a...))
}

// take returns the next n bytes.
func (d *msgpackDecoder) take(n uint64, what string) ([]byte, error) {
	if n > uint64(len(d.b)-d.off) {
		return nil, d.errorf("%s of %d bytes runs past the end (%d bytes left)", what, n, len(d.b)-d.off)
	}
	out := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return out, nil
}

// uint reads a big-endian unsigned integer of size bytes.
func (d *msgpackDecoder) uint(size int, what string) (uint64, error) {
	p, err := d.take(uint64(size), what)
	if err != nil {
		return 0, err
	}
	switch size {
	case 1:
		return uint64(p[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(p)), nil
	}
	return binary.BigEndian.Uint64(p), nil
}

func (d *msgpackDecoder) value(depth int) (any, error) {
	if depth > msgpackMaxDepth {
		return nil, d.errorf("nested more than %d levels", msgpackMaxDepth)
	}
	if d.off >= len(d.b) {
		return nil, d.errorf("the data ends where a value should start")
	}
	c := d.b[d.off]
	d.off++
	switch {
	case c <= 0x7f:
		return int64(c), nil
	case c >= 0xe0:
		return int64(int8(c)), nil
	case c&0xf0 == 0x80:
		return d.object(uint64(c&0x0f), depth)
	case c&0xf0 == 0x90:
		return d.array(uint64(c&0x0f), depth)
	case c&0xe0 == 0xa0:
		return d.str(uint64(c & 0x1f))
	}
	switch c {
	case 0xc0:
		return nil, nil
	case 0xc2:
		return false, nil
	case 0xc3:
		return true, nil
	case 0xc4, 0xc5, 0xc6: // bin 8, 16, 32
		n, err := d.uint(1<<(c-0xc4), "binary length")
		if err != nil {
			return nil, err
		}
		p, err := d.take(n, "binary")
		if err != nil {
			return nil, err
		}
		return append([]byte(nil), p...), nil
	case 0xc7, 0xc8, 0xc9: // ext 8, 16, 32: length, type, data
		n, err := d.uint(1<<(c-0xc7), "extension length")
		if err != nil {
			return nil, err
		}
		if _, err := d.take(n+1, "extension"); err != nil {
			return nil, err
		}
		return nil, nil
	case 0xca:
		u, err := d.uint(4, "float32")
		if err != nil {
			return nil, err
		}
		return finite(float64(math.Float32frombits(uint32(u)))), nil
	case 0xcb:
		u, err := d.uint(8, "float64")
		if err != nil {
			return nil, err
		}
		return finite(math.Float64frombits(u)), nil
	case 0xcc, 0xcd, 0xce, 0xcf: // uint 8, 16, 32, 64
		return d.uint(1<<(c-0xcc), "unsigned integer")
	case 0xd0, 0xd1, 0xd2, 0xd3: // int 8, 16, 32, 64
		size := 1 << (c - 0xd0)
		u, err := d.uint(size, "integer")
		if err != nil {
			return nil, err
		}
		shift := 64 - 8*size
		return int64(u<<shift) >> shift, nil
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16: type, data
		if _, err := d.take(1+1<<(c-0xd4), "extension"); err != nil {
			return nil, err
		}
		return nil, nil
	case 0xd9, 0xda, 0xdb: // str 8, 16, 32
		n, err := d.uint(1<<(c-0xd9), "string length")
		if err != nil {
			return nil, err
		}
		return d.str(n)
	case 0xdc, 0xdd: // array 16, 32
		n, err := d.uint(2<<(c-0xdc), "array length")
		if err != nil {
			return nil, err
		}
		return d.array(n, depth)
	case 0xde, 0xdf: // map 16, 32
		n, err := d.uint(2<<(c-0xde), "map length")
		if err != nil {
			return nil, err
		}
		return d.object(n, depth)
	}
	d.off--
	return nil, d.errorf("0x%02x is not a MessagePack type", c)
}

func finite(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return f
}

func (d *msgpackDecoder) str(n uint64) (any, error) {
	p, err := d.take(n, "string")
	if err != nil {
		return nil, err
	}
	return string(p), nil
}

func (d *msgpackDecoder) array(n uint64, depth int) (any, error) {
	if n > uint64(len(d.b)-d.off) {
		return nil, d.errorf("array of %d elements cannot fit in the %d bytes left", n, len(d.b)-d.off)
	}
	out := make([]any, 0, n)
	for range n {
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (d *msgpackDecoder) object(n uint64, depth int) (any, error) {
	if n > uint64(len(d.b)-d.off)/2 {
		return nil, d.errorf("map of %d entries cannot fit in the %d bytes left", n, len(d.b)-d.off)
	}
	out := make(map[string]any, n)
	for range n {
		k, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out[keyText(k)] = v
	}
	return out, nil
}

// keyText writes a map key as a JSON object key.
func keyText(k any) string {
	switch k := k.(type) {
	case string:
		return k
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(k)
	case int64:
		return strconv.FormatInt(k, 10)
	case uint64:
		return strconv.FormatUint(k, 10)
	case float64:
		return strconv.FormatFloat(k, 'g', -1, 64)
	}
	return fmt.Sprintf("%v", k)
}
