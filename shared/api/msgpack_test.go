package api

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
)

// msgpackEncode writes v as MessagePack the way mpack (sentry-native's
// writer) does: the smallest encoding of each value, maps in key order.
// It is the tests' own encoder, written from the specification's format
// table independently of the decoder.
func msgpackEncode(v any) []byte {
	var b bytes.Buffer
	var enc func(v any)
	be := func(n uint64, size int) {
		var tmp [8]byte
		binary.BigEndian.PutUint64(tmp[:], n)
		b.Write(tmp[8-size:])
	}
	head := func(n int, fix, fixMax byte, b8, b16, b32 byte) {
		switch {
		case fix != 0 && n <= int(fixMax):
			b.WriteByte(fix | byte(n))
		case b8 != 0 && n <= 0xff:
			b.WriteByte(b8)
			be(uint64(n), 1)
		case n <= 0xffff:
			b.WriteByte(b16)
			be(uint64(n), 2)
		default:
			b.WriteByte(b32)
			be(uint64(n), 4)
		}
	}
	enc = func(v any) {
		switch v := v.(type) {
		case nil:
			b.WriteByte(0xc0)
		case bool:
			if v {
				b.WriteByte(0xc3)
			} else {
				b.WriteByte(0xc2)
			}
		case int:
			enc(int64(v))
		case int64:
			switch {
			case v >= 0 && v <= 0x7f:
				b.WriteByte(byte(v))
			case v >= -32 && v < 0:
				b.WriteByte(byte(int8(v)))
			case v >= 0 && v <= math.MaxUint32:
				b.WriteByte(0xce)
				be(uint64(v), 4)
			case v >= math.MinInt32 && v <= math.MaxInt32:
				b.WriteByte(0xd2)
				be(uint64(uint32(int32(v))), 4)
			default:
				b.WriteByte(0xd3)
				be(uint64(v), 8)
			}
		case uint64:
			b.WriteByte(0xcf)
			be(v, 8)
		case float64:
			b.WriteByte(0xcb)
			be(math.Float64bits(v), 8)
		case string:
			head(len(v), 0xa0, 31, 0xd9, 0xda, 0xdb)
			b.WriteString(v)
		case []byte:
			head(len(v), 0, 0, 0xc4, 0xc5, 0xc6)
			b.Write(v)
		case []any:
			head(len(v), 0x90, 15, 0, 0xdc, 0xdd)
			for _, e := range v {
				enc(e)
			}
		case map[string]any:
			head(len(v), 0x80, 15, 0, 0xde, 0xdf)
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				enc(k)
				enc(v[k])
			}
		default:
			panic(fmt.Sprintf("msgpackEncode: %T", v))
		}
	}
	enc(v)
	return b.Bytes()
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodeMsgpackSpec decodes the examples of each format family of the
// MessagePack specification.
func TestDecodeMsgpackSpec(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // JSON
	}{
		{"c0", `null`},
		{"c2", `false`},
		{"c3", `true`},
		{"00", `0`},
		{"7f", `127`},
		{"e0", `-32`},
		{"ff", `-1`},
		{"cc ff", `255`},
		{"cd 01 00", `256`},
		{"ce ff ff ff ff", `4294967295`},
		{"cf ff ff ff ff ff ff ff ff", `18446744073709551615`},
		{"d0 80", `-128`},
		{"d1 80 00", `-32768`},
		{"d2 80 00 00 00", `-2147483648`},
		{"d3 80 00 00 00 00 00 00 00", `-9223372036854775808`},
		{"ca 3f c0 00 00", `1.5`},
		{"cb 40 09 21 fb 54 44 2d 18", `3.141592653589793`},
		{"cb 7f f8 00 00 00 00 00 01", `null`}, // NaN has no JSON
		{"a0", `""`},
		{"a3 61 62 63", `"abc"`},
		{"d9 03 61 62 63", `"abc"`},
		{"da 00 03 61 62 63", `"abc"`},
		{"db 00 00 00 03 61 62 63", `"abc"`},
		{"c4 02 01 02", `"AQI="`},
		{"90", `[]`},
		{"92 01 a1 78", `[1,"x"]`},
		{"dc 00 01 c0", `[null]`},
		{"dd 00 00 00 01 c3", `[true]`},
		{"80", `{}`},
		{"81 a1 6b 01", `{"k":1}`},
		{"de 00 01 a1 6b c2", `{"k":false}`},
		{"df 00 00 00 01 a1 6b 90", `{"k":[]}`},
		{"82 01 a1 61 c3 a1 62", `{"1":"a","true":"b"}`}, // non-string keys
		{"d4 01 02", `null`},                             // fixext 1
		{"c7 02 05 aa bb", `null`},                       // ext 8
	} {
		v, err := decodeMsgpack(unhex(t, tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		got, err := json.Marshal(v)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: %s (%v), want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestDecodeMsgpackMalformed(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "the data ends where a value should start"},
		{"c1", "0xc1 is not a MessagePack type"},
		{"a3 61", "string of 3 bytes runs past the end (1 bytes left)"},
		{"cd 01", "unsigned integer of 2 bytes runs past the end"},
		{"dd ff ff ff ff", "array of 4294967295 elements cannot fit in the 0 bytes left"},
		{"df 00 00 10 00 01 02", "map of 4096 entries cannot fit in the 2 bytes left"},
		{"92 01", "array of 2 elements cannot fit in the 1 bytes left"},
		{"81 a1 6b", "at byte 3: the data ends where a value should start"},
		{"c0 c0", "1 bytes after the value at byte 1"},
		{"c6 ff ff ff ff", "binary of 4294967295 bytes runs past the end"},
		{strings.Repeat("91 ", 70) + "c0", "nested more than 64 levels"},
	} {
		_, err := decodeMsgpack(unhex(t, tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one saying %q", tc.in, err, tc.want)
		}
	}
}

// TestDecodeMsgpackRoundTrip decodes what the encoder writes for an event
// shaped like sentry-native's __sentry-event, with every length class of
// strings, arrays and maps.
func TestDecodeMsgpackRoundTrip(t *testing.T) {
	long := strings.Repeat("x", 70000)
	many := make([]any, 70000)
	for i := range many {
		many[i] = int64(i % 100)
	}
	wide := map[string]any{}
	for i := range 20 {
		wide[strings.Repeat("k", i+1)] = int64(i)
	}
	event := map[string]any{
		"event_id": "4b3c2a1f-0e9d-4c8b-a7f6-e5d4c3b2a190",
		"level":    "fatal",
		"release":  "crashy@1.0.0",
		"contexts": map[string]any{"os": map[string]any{"name": "Linux", "kernel_version": "6.1.0"}},
		"tags":     map[string]any{"k": "v"},
		"extra":    map[string]any{"big": long, "many": many, "wide": wide, "neg": int64(-5), "min": int64(math.MinInt64), "u": uint64(math.MaxUint64), "f": 0.25, "no": false, "nil": nil, "bin": []byte{1, 2, 3}},
		"str255":   strings.Repeat("y", 255),
		"str256":   strings.Repeat("y", 256),
	}
	enc := msgpackEncode(event)
	v, err := decodeMsgpack(enc)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(v)
	want, _ := json.Marshal(event)
	if !bytes.Equal(got, want) {
		t.Errorf("round trip differs: %.300s\nwant %.300s", got, want)
	}
}

func FuzzDecodeMsgpack(f *testing.F) {
	f.Add(msgpackEncode(map[string]any{"event_id": "4b3c2a1f0e9d4c8ba7f6e5d4c3b2a190", "tags": map[string]any{"a": []any{int64(1), "b", nil, 1.5}}}))
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0xc7, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeMsgpack(b)
		if err != nil {
			return
		}
		if _, err := json.Marshal(v); err != nil {
			t.Fatalf("decoded value does not encode as JSON: %v", err)
		}
	})
}
