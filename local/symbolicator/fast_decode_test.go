package symbolicator

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// normalizeRequest makes decoded requests comparable: a frame without
// passed-through fields may hold an empty map or none.
func normalizeRequest(req *symbolicateRequest) *symbolicateRequest {
	for _, st := range req.Stacktraces {
		for _, f := range st.Frames {
			if len(f.fields) == 0 {
				f.fields = nil
			}
		}
	}
	return req
}

// checkDecoders decodes body with the fast and the general decoder and
// fails when the fast one takes a body the general one refuses, or
// decodes it differently. It reports whether the fast decoder took it.
func checkDecoders(t testing.TB, body []byte) bool {
	t.Helper()
	want, err := decodeGeneral(body)
	got, ok := decodeFast(body)
	if !ok {
		return false
	}
	if err != nil {
		t.Fatalf("the fast decoder takes %q, which the general one refuses: %v", body, err)
	}
	if !reflect.DeepEqual(normalizeRequest(got), normalizeRequest(want)) {
		t.Fatalf("decoders disagree on %q:\nfast    %s\ngeneral %s", body, dumpRequest(got), dumpRequest(want))
	}
	return true
}

func dumpRequest(req *symbolicateRequest) string {
	var b strings.Builder
	fmt.Fprintf(&b, "signal %v options %+v sources %d modules %d\n", req.Signal, req.Options, len(req.Sources), len(req.Modules))
	for i, st := range req.Stacktraces {
		fmt.Fprintf(&b, " trace %d registers %v fields %s\n", i, st.Registers, dumpObject(st.fields))
		for _, f := range st.Frames {
			adj := "-"
			if f.Adjust != nil {
				adj = strconv.FormatBool(*f.Adjust)
			}
			fmt.Fprintf(&b, "  %#x %s adj=%s fn=%q sym=%q trust=%s fields %s\n", f.Addr, f.Mode, adj, f.Function, f.Symbol, f.Trust, dumpObject(f.fields))
		}
	}
	return b.String()
}

func dumpObject(o jsonObject) string {
	var parts []string
	for _, k := range sortedKeys(o) {
		parts = append(parts, k+"="+string(o[k]))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// TestFastDecoderTakesCommonBodies: the bodies crash reporters send are
// decoded by the fast path, not handed back to the general decoder.
func TestFastDecoderTakesCommonBodies(t *testing.T) {
	for _, body := range []string{
		`{"stacktraces":[{"frames":[{"instruction_addr":"0x1010"},{"instruction_addr":"0x2020"}]}],"modules":[{"type":"elf","code_id":"ab","image_addr":"0x1000","image_size":4096}],"sources":[{"type":"http","id":"x","url":"http://127.0.0.1/","layout":{"type":"native"}}],"options":{"dif_candidates":true}}`,
		`{"platform":"native","signal":11,"stacktraces":[{"thread_id":1,"is_requesting":true,"registers":{"rip":"0x10"},"frames":[{"instruction_addr":"0x10","trust":"context","function":"main","symbol":"main"},{"instruction_addr":16,"addr_mode":"rel:0","adjust_instruction_addr":false,"platform":"native","lang":"c"}]}]}`,
		" {\n\t\"stacktraces\" : [ { \"frames\" : [ { \"instruction_addr\" : \"0xAbC\" , \"function\" : \"ünïcode\" } ] } ] } \r\n",
		`{"stacktraces":null}`, `{"stacktraces":[]}`, `{"stacktraces":[{"frames":null}]}`, `{"stacktraces":[{"frames":[]}]}`, `{}`,
	} {
		if !checkDecoders(t, []byte(body)) {
			t.Errorf("the fast decoder does not take %s", body)
		}
	}
}

// TestFastDecoderLeavesTheRest: bodies with errors, duplicate keys or
// escaped keys go to the general decoder, which decides.
func TestFastDecoderLeavesTheRest(t *testing.T) {
	for _, body := range []string{
		``, `null`, `[]`, `{`, `{"stacktraces":[{"frames":[{"instruction_addr":"0x1"}]}]} x`,
		`{"stacktraces":[{"frames":[{"instruction_addr":"0x1","instruction_addr":"0x2"}]}]}`,
		`{"stacktraces":[{"frames":[{"instruction_addr":"0x1","platform":"a","platform":"b"}]}]}`,
		`{"stacktraces":[{"frames":[{"instruction\u005faddr":"0x1"}]}]}`,
		`{"stacktraces":[{"frames":[{"instruction_addr":null}]}]}`,
		`{"stacktraces":[{"frames":[{"instruction_addr":"0x"}]}]}`,
		`{"stacktraces":[{"frames":[{"instruction_addr":"0x10000000000000000"}]}]}`,
		`{"stacktraces":[{"frames":[{"instruction_addr":"0x1","trust":"bogus"}]}]}`,
		`{"stacktraces":[{"frames":[{"instruction_addr":"0x1","function":"a\nb"}]}]}`,
		`{"stacktraces":[{"frames":[{"instruction_addr":"0x1","function":"\xff"}]}]}`,
		`{"stacktraces":[{"frames":[{}]}]}`, `{"stacktraces":[{}]}`, `{"stacktraces":[null]}`,
		`{"stacktraces":[{"frames":[{"instruction_addr":"0x1"}]}],"stacktraces":[]}`,
		`{"stacktraces":[{"frames":[{"instruction_addr":"0x1","vars":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}]}]}`,
	} {
		if checkDecoders(t, []byte(body)) {
			t.Errorf("the fast decoder takes %q", body)
		}
	}
}

// TestFastDecoderAgrees compares the two decoders on generated bodies
// and on mutations of them (bytes dropped, replaced, inserted).
func TestFastDecoderAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 1))
	taken := 0
	const n = 3000
	for i := range n {
		body := genBody(rng)
		if checkDecoders(t, body) {
			taken++
		}
		for range 3 {
			checkDecoders(t, mutate(rng, body))
		}
		if i < 3 {
			t.Logf("example: %s", body)
		}
	}
	// Most generated bodies have an error somewhere; the fast path must
	// still take a fair share (the valid ones without escaped keys).
	if taken < n/8 {
		t.Errorf("the fast decoder took %d of %d generated bodies", taken, n)
	}
}

// FuzzFastDecoder: the fast decoder takes only bodies the general one
// accepts, and decodes them the same.
func FuzzFastDecoder(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		f.Add(genBody(rng))
	}
	f.Add([]byte(`{"stacktraces":[{"frames":[{"instruction_addr":"0x1010","vars":{"a":[1,2.5e-3,true,null,"\u00e9"]}}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecoders(t, body)
	})
}

func mutate(rng *rand.Rand, body []byte) []byte {
	b := append([]byte(nil), body...)
	if len(b) == 0 {
		return b
	}
	i := rng.IntN(len(b))
	const alphabet = "{}[]\",:0x1aAfn\\ -.eE\xff"
	switch rng.IntN(3) {
	case 0:
		return append(b[:i], b[i+1:]...)
	case 1:
		b[i] = alphabet[rng.IntN(len(alphabet))]
		return b
	default:
		return append(b[:i], append([]byte{alphabet[rng.IntN(len(alphabet))]}, b[i:]...)...)
	}
}

func pick[T any](rng *rand.Rand, xs ...T) T { return xs[rng.IntN(len(xs))] }

// genBody builds a /symbolicate body from the fields the API knows, with
// values of the right and of wrong kinds, nulls, escapes and unknown
// fields, spaced at random.
func genBody(rng *rand.Rand) []byte {
	ws := func() string { return pick(rng, "", "", "", " ", "\n\t", " \r\n ") }
	str := func() string {
		return pick(rng, `"main"`, `"_ZN3foo3barEv"`, `"std::vector<int>::push_back(int&&)"`, `"a\"b"`, `"tab\tx"`, `"caf\u00e9"`,
			`"日本"`, "\"\xff\xfe\"", `""`, `null`, `12`, `true`, `["x"]`)
	}
	addr := func() string {
		return pick(rng, `"0x1010"`, `"0X1a"`, `"0xffffffffffffffff"`, `"0x10000000000000000"`, `"0x"`, `"4112"`, `4112`, `-1`,
			`1.5`, `1e3`, `null`, `"zz"`, `"0x0000000000000000001"`, `"0x1\u0030"`, `true`, `{}`,
			`"0x`+strconv.FormatUint(rng.Uint64(), 16)+`"`)
	}
	var frames []string
	for range rng.IntN(6) {
		var members []string
		add := func(k, v string) { members = append(members, `"`+k+`"`+ws()+":"+ws()+v) }
		if rng.IntN(12) != 0 {
			add("instruction_addr", addr())
		}
		if rng.IntN(4) == 0 {
			add("addr_mode", pick(rng, `"abs"`, `"rel:0"`, `"rel:3"`, `"rel:x"`, `"rel:99999999999"`, `null`, `5`))
		}
		if rng.IntN(4) == 0 {
			add("adjust_instruction_addr", pick(rng, `true`, `false`, `null`, `"yes"`))
		}
		if rng.IntN(3) == 0 {
			add("function", str())
		}
		if rng.IntN(3) == 0 {
			add("symbol", str())
		}
		if rng.IntN(3) == 0 {
			add("trust", pick(rng, `"cfi"`, `"scan"`, `"none"`, `"prewalked"`, `"bogus"`, `null`, `1`))
		}
		if rng.IntN(4) == 0 {
			k := pick(rng, "platform", "lang", "package", "in_app", "lineno", "function_id", "sym_addr", "vars", "pre_context", "data", "abs_path")
			add(k, pick(rng, str(), addr(), `{"a":[1,{"b":null}],"c":-0.5e+2}`, `["l1","l2"]`, `false`, `7`))
		}
		if rng.IntN(30) == 0 && len(members) > 0 {
			members = append(members, members[rng.IntN(len(members))]) // duplicate key
		}
		rng.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
		frames = append(frames, "{"+ws()+strings.Join(members, ","+ws())+ws()+"}")
	}
	var trace []string
	if rng.IntN(15) != 0 {
		trace = append(trace, `"frames":`+ws()+pick(rng, "["+strings.Join(frames, ","+ws())+"]", "null", "[]", `{}`))
	}
	if rng.IntN(4) == 0 {
		trace = append(trace, `"registers":`+pick(rng, `{"rip":"0x10","rsp":4096,"x":null}`, `{"rip":"bad"}`, `null`, `[]`))
	}
	if rng.IntN(4) == 0 {
		trace = append(trace, `"thread_id":`+pick(rng, `1`, `-1`, `"t"`, `null`), `"thread_name":`+pick(rng, `"main"`, `3`), `"is_requesting":`+pick(rng, `true`, `"no"`))
	}
	if rng.IntN(8) == 0 {
		trace = append(trace, `"custom":{"x":[1,2]}`)
	}
	rng.Shuffle(len(trace), func(i, j int) { trace[i], trace[j] = trace[j], trace[i] })
	var top []string
	traces := "[" + "{" + strings.Join(trace, ",") + "}"
	if rng.IntN(3) == 0 {
		traces += `,{"frames":[{"instruction_addr":"0x20"}]}`
	}
	traces += "]"
	top = append(top, `"stacktraces":`+ws()+pick(rng, traces, traces, traces, "null", "[]", "{}", "[null]"))
	if rng.IntN(2) == 0 {
		top = append(top, `"modules":`+pick(rng, `[{"type":"elf","code_id":"AB","image_addr":"0x1000","image_size":4096}]`, `[{"type":"macho","debug_id":"67e9247c-814e-392b-a027-dbde6748fcbf","image_addr":0}]`, `[{}]`, `null`, `[1]`))
	}
	if rng.IntN(3) == 0 {
		top = append(top, `"signal":`+pick(rng, `11`, `-1`, `4294967296`, `"x"`, `null`))
	}
	if rng.IntN(3) == 0 {
		top = append(top, `"options":`+pick(rng, `{"dif_candidates":true,"frame_order":"caller_first"}`, `{"frame_order":"x"}`, `null`, `{"apply_source_context":false}`))
	}
	if rng.IntN(3) == 0 {
		top = append(top, `"sources":`+pick(rng, `[{"type":"http","id":"a","url":"http://127.0.0.1/","layout":{"type":"native"}}]`, `[{"type":"nope"}]`, `null`))
	}
	if rng.IntN(4) == 0 {
		top = append(top, `"platform":`+pick(rng, `"native"`, `1`), `"scraping":`+pick(rng, `{"enabled":false}`, `3`))
	}
	rng.Shuffle(len(top), func(i, j int) { top[i], top[j] = top[j], top[i] })
	return []byte(ws() + "{" + ws() + strings.Join(top, ","+ws()) + ws() + "}" + ws())
}
