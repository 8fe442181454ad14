package symbolicator

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/symflow/symflow/local/symbolicator/objfile"
)

// largeRequest is a /symbolicate request shaped as symflow-bench's service
// section sends it: one ELF module served by an HTTP symbol server in the
// native layout, n addresses spread evenly over the binary's functions, in
// stack traces of 64 frames whose every frame but the first is a return
// address, dif_candidates on.
type largeRequest struct {
	body      []byte
	serverURL string // the symbol server's URL, which the answer's candidates name
}

// newLargeRequest serves the ELF file at path from a loopback symbol
// server (closed when t ends) and builds a request for n addresses in it.
func newLargeRequest(t testing.TB, path string, n int) largeRequest {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	id, err := objfile.Identify(data)
	if err != nil || id.CodeID == "" {
		t.Fatalf("%s: no code id (%v)", path, err)
	}
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := ^uint64(0), uint64(0)
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD {
			lo, hi = min(lo, p.Vaddr), max(hi, p.Vaddr+p.Memsz)
		}
	}
	size := (hi - lo + 0xfff) &^ 0xfff
	image := uint64(0x7f0000000000)
	if ef.Type == elf.ET_EXEC {
		image = lo
	}
	addrs := spreadAddrs(t, ef, n)

	dir := t.TempDir()
	p := filepath.Join(dir, id.CodeID[:2], id.CodeID[2:])
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)

	type jsonFrame struct {
		Addr string `json:"instruction_addr"`
	}
	type jsonTrace struct {
		Frames []jsonFrame `json:"frames"`
	}
	var traces []jsonTrace
	for i, a := range addrs {
		if i%64 == 0 {
			traces = append(traces, jsonTrace{})
		}
		x := image + a - lo
		if i%64 != 0 {
			x++
		}
		tr := &traces[len(traces)-1]
		tr.Frames = append(tr.Frames, jsonFrame{"0x" + strconv.FormatUint(x, 16)})
	}
	body, err := json.Marshal(map[string]any{
		"sources": []any{map[string]any{"type": "http", "id": "bench", "url": srv.URL + "/", "layout": map[string]string{"type": "native"}}},
		"modules": []any{map[string]any{
			"type": "elf", "code_id": id.CodeID, "debug_id": id.DebugID, "code_file": "/opt/bench/" + filepath.Base(path),
			"image_addr": "0x" + strconv.FormatUint(image, 16), "image_size": size,
		}},
		"stacktraces": traces,
		"options":     map[string]any{"dif_candidates": true},
	})
	if err != nil {
		t.Fatal(err)
	}
	return largeRequest{body: body, serverURL: srv.URL + "/"}
}

// spreadAddrs picks n addresses spread evenly over the bytes of the
// file's function symbols, in a deterministic shuffled order, as the
// benchmark does.
func spreadAddrs(t testing.TB, ef *elf.File, n int) []uint64 {
	t.Helper()
	syms, err := ef.Symbols()
	if errors.Is(err, elf.ErrNoSymbols) {
		syms, err = ef.DynamicSymbols()
	}
	if err != nil {
		t.Fatal(err)
	}
	type span struct{ lo, hi uint64 }
	var spans []span
	total := uint64(0)
	seen := map[uint64]bool{}
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Size == 0 || s.Section == elf.SHN_UNDEF || seen[s.Value] {
			continue
		}
		seen[s.Value] = true
		spans = append(spans, span{s.Value, s.Value + s.Size})
		total += s.Size
	}
	if total == 0 {
		t.Fatal("no function symbol to sample addresses from")
	}
	stride := max(total/uint64(n), 1)
	out := make([]uint64, 0, n)
	k := uint64(0)
	for _, sp := range spans {
		for a := sp.lo + (stride-k%stride)%stride; a < sp.hi && len(out) < n; a += stride {
			out = append(out, a)
		}
		k += sp.hi - sp.lo
	}
	for i := 0; len(out) < n; i++ {
		out = append(out, out[i])
	}
	mix := func(x uint64) uint64 {
		x ^= x >> 33
		x *= 0xff51afd7ed558ccd
		x ^= x >> 33
		return x
	}
	slices.SortStableFunc(out, func(a, b uint64) int { return int(mix(a)%7) - int(mix(b)%7) })
	return out
}

// post sends the request to srv and returns the answer, with the symbol
// server's URL replaced by a fixed one so that answers of different runs
// compare.
func (r largeRequest) post(t testing.TB, srv string) []byte {
	t.Helper()
	resp, err := http.Post(srv+"/symbolicate?timeout=600", "application/json", bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(data, []byte(`"status":"completed"`)) {
		t.Fatalf("status %d: %.300s", resp.StatusCode, data)
	}
	return bytes.ReplaceAll(data, []byte(r.serverURL), []byte("http://symbol-server/"))
}

// TestGoldenAnswers compares the answers to benchmark-sized requests with
// answers written earlier, byte for byte: a change that makes answering
// faster must not change a byte of what is answered. It runs when
// SYMBOLICATOR_GOLDEN_ELFS lists ELF files (comma-separated) and
// SYMBOLICATOR_GOLDEN_DIR names where the answers are kept; a missing
// answer file is written, an existing one compared with.
func TestGoldenAnswers(t *testing.T) {
	elfs, dir := os.Getenv("SYMBOLICATOR_GOLDEN_ELFS"), os.Getenv("SYMBOLICATOR_GOLDEN_DIR")
	if elfs == "" || dir == "" {
		t.Skip("set SYMBOLICATOR_GOLDEN_ELFS and SYMBOLICATOR_GOLDEN_DIR to compare benchmark-sized answers with earlier ones")
	}
	n := 30000
	if v := os.Getenv("SYMBOLICATOR_GOLDEN_ADDRESSES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range strings.Split(elfs, ",") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			req := newLargeRequest(t, path, n)
			_, srv := testService(t, Config{AllowLoopback: true})
			cold := req.post(t, srv.URL)
			warm := req.post(t, srv.URL)
			if !bytes.Equal(cold, warm) {
				t.Fatal("the warm answer differs from the cold one")
			}
			golden := filepath.Join(dir, filepath.Base(path)+"."+strconv.Itoa(n)+".json")
			want, err := os.ReadFile(golden)
			if errors.Is(err, os.ErrNotExist) {
				if err := os.WriteFile(golden, cold, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("wrote %s (%d bytes)", golden, len(cold))
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(cold, want) {
				i := 0
				for i < min(len(cold), len(want)) && cold[i] == want[i] {
					i++
				}
				t.Fatalf("answer differs from %s at byte %d of %d (want %d): got %.200q, want %.200q",
					golden, i, len(cold), len(want), cold[max(i-40, 0):], want[max(i-40, 0):])
			}
		})
	}
}
