package applecrash

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the parser's output")

// golden is what a report becomes: the parse, in the shape of the
// reference crate's serialisation, and the parts of Symbolicator's request
// and answer that come from the report alone.
type golden struct {
	Metadata      [][2]string    `json:"metadata"`
	IncidentID    string         `json:"incident_identifier"`
	Timestamp     string         `json:"timestamp,omitempty"`
	CodeType      string         `json:"code_type,omitempty"`
	Path          string         `json:"path,omitempty"`
	ReportVersion uint32         `json:"report_version"`
	ASI           string         `json:"application_specific_information,omitempty"`
	Syslog        string         `json:"filtered_syslog,omitempty"`
	Threads       []goldenThread `json:"threads"`
	Images        []goldenImage  `json:"binary_images"`
	Symbolicator  goldenResponse `json:"symbolicator"`
}

type goldenThread struct {
	ID            uint64            `json:"id"`
	Name          string            `json:"name,omitempty"`
	DispatchQueue string            `json:"dispatch_queue,omitempty"`
	Crashed       bool              `json:"crashed"`
	Frames        []goldenFrame     `json:"frames"`
	Registers     map[string]string `json:"registers,omitempty"`
}

type goldenFrame struct {
	Num      uint64  `json:"num"`
	Module   string  `json:"module,omitempty"`
	Address  string  `json:"instruction_addr"`
	Symbol   string  `json:"symbol,omitempty"`
	Offset   *uint64 `json:"offset,omitempty"`
	FileName *string `json:"filename,omitempty"`
	Line     *uint32 `json:"lineno,omitempty"`
}

type goldenImage struct {
	Addr    string `json:"addr"`
	End     string `json:"end"`
	Size    uint64 `json:"size"`
	UUID    string `json:"uuid"`
	Arch    string `json:"arch"`
	Version string `json:"version,omitempty"`
	Name    string `json:"name"`
	Path    string `json:"path"`
}

type goldenResponse struct {
	Timestamp    *int64             `json:"timestamp,omitempty"`
	SystemInfo   SystemInfo         `json:"system_info"`
	CrashReason  *string            `json:"crash_reason,omitempty"`
	CrashDetails *string            `json:"crash_details,omitempty"`
	Modules      []goldenModule     `json:"modules"`
	Stacktraces  []goldenStacktrace `json:"stacktraces"`
}

type goldenModule struct {
	Type      string  `json:"type"`
	CodeID    string  `json:"code_id"`
	CodeFile  string  `json:"code_file"`
	DebugID   string  `json:"debug_id"`
	DebugFile string  `json:"debug_file"`
	ImageAddr string  `json:"image_addr"`
	ImageSize *uint64 `json:"image_size,omitempty"`
}

type goldenStacktrace struct {
	ThreadID     uint64            `json:"thread_id"`
	ThreadName   string            `json:"thread_name,omitempty"`
	IsRequesting bool              `json:"is_requesting"`
	Registers    map[string]string `json:"registers,omitempty"`
	Frames       []goldenRawFrame  `json:"frames"`
}

type goldenRawFrame struct {
	InstructionAddr string `json:"instruction_addr"`
	Package         string `json:"package,omitempty"`
}

func hexString(v uint64) string { return fmt.Sprintf("0x%x", v) }

func hexRegisters(m map[string]uint64) map[string]string {
	if m == nil {
		return nil
	}
	out := map[string]string{}
	for k, v := range m {
		out[k] = hexString(v)
	}
	return out
}

func goldenOf(r *Report) golden {
	g := golden{
		IncidentID:    fmt.Sprintf("%x", r.IncidentID),
		CodeType:      r.CodeType,
		Path:          r.Path,
		ReportVersion: r.ReportVersion,
		ASI:           r.ApplicationSpecificInformation,
		Syslog:        r.FilteredSyslog,
		Metadata:      [][2]string{},
		Threads:       []goldenThread{},
		Images:        []goldenImage{},
	}
	for _, f := range r.Metadata {
		g.Metadata = append(g.Metadata, [2]string{f.Key, f.Value})
	}
	if r.HasTimestamp {
		g.Timestamp = r.Timestamp.Format("2006-01-02T15:04:05.999999999Z07:00")
		ts := r.Timestamp.Unix()
		g.Symbolicator.Timestamp = &ts
	}
	for _, t := range r.Threads {
		gt := goldenThread{ID: t.ID, Name: t.Name, DispatchQueue: t.DispatchQueue, Crashed: t.Crashed,
			Frames: []goldenFrame{}, Registers: hexRegisters(t.Registers)}
		st := goldenStacktrace{ThreadID: t.ID, ThreadName: t.Name, IsRequesting: t.Crashed,
			Registers: hexRegisters(t.Registers), Frames: []goldenRawFrame{}}
		for _, f := range t.Frames {
			gf := goldenFrame{Num: f.Num, Module: f.Module, Address: hexString(f.Address), Symbol: f.Symbol}
			if f.HasOffset {
				gf.Offset = &f.Offset
			}
			if f.HasLine {
				gf.FileName, gf.Line = &f.FileName, &f.Line
			}
			gt.Frames = append(gt.Frames, gf)
			st.Frames = append(st.Frames, goldenRawFrame{InstructionAddr: hexString(f.Address), Package: f.Module})
		}
		g.Threads = append(g.Threads, gt)
		g.Symbolicator.Stacktraces = append(g.Symbolicator.Stacktraces, st)
	}
	g.Symbolicator.Modules = []goldenModule{}
	for _, img := range r.BinaryImages {
		g.Images = append(g.Images, goldenImage{Addr: hexString(img.Addr), End: hexString(img.End), Size: img.Size,
			UUID: img.DebugID(), Arch: img.Arch, Version: img.Version, Name: img.Name, Path: img.Path})
		m := goldenModule{Type: "macho", CodeID: img.CodeID(), CodeFile: img.Path, DebugID: img.DebugID(),
			DebugFile: img.Path, ImageAddr: hexString(img.Addr)}
		if size, ok := img.ImageSize(); ok {
			m.ImageSize = &size
		}
		g.Symbolicator.Modules = append(g.Symbolicator.Modules, m)
	}
	g.Symbolicator.SystemInfo = r.SystemInfo()
	if v, ok := r.CrashReason(); ok {
		g.Symbolicator.CrashReason = &v
	}
	if v, ok := r.CrashDetails(); ok {
		g.Symbolicator.CrashDetails = &v
	}
	return g
}

func (s SystemInfo) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"os_name": s.OSName, "os_version": s.OSVersion, "os_build": s.OSBuild,
		"cpu_arch": s.CPUArch, "device_model": s.DeviceModel})
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.crash")
	if err != nil || len(files) < 6 {
		t.Fatalf("fixtures: %v %v", files, err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".crash")
		t.Run(name, func(t *testing.T) {
			text, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Parse(text)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(goldenOf(r), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			goldenFile := strings.TrimSuffix(file, ".crash") + ".golden.json"
			if *update {
				if err := os.WriteFile(goldenFile, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(goldenFile)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s (run with -update to accept):\n%s", file, goldenFile, firstDiff(string(want), string(got)))
			}
			// Every line of the fixture matches as the reference grammar says.
			for _, line := range strings.Split(string(text), "\n") {
				checkLine(t, trimRight(line))
			}
		})
	}
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n want %s\n got  %s", i+1, a, b)
		}
	}
	return ""
}

// TestLineEndings: a report saved with Windows line endings parses as the
// same report.
func TestLineEndings(t *testing.T) {
	lf, err := os.ReadFile("testdata/macos-x86_64.crash")
	if err != nil {
		t.Fatal(err)
	}
	crlf, err := os.ReadFile("testdata/macos-x86_64-crlf.crash")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(crlf, []byte("\r\n")) || !bytes.Equal(bytes.ReplaceAll(crlf, []byte("\r\n"), []byte("\n")), lf) {
		t.Fatal("the CRLF fixture is not the LF fixture with CRLF line endings")
	}
	a, err := Parse(lf)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse(crlf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Error("CRLF and LF versions parse differently")
	}
}

// TestReferenceFacts checks the behaviours of the reference parser and of
// Symbolicator that its own test snapshots record, on small reports.
func TestReferenceFacts(t *testing.T) {
	parse := func(t *testing.T, text string) *Report {
		t.Helper()
		r, err := Parse([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	const images = "Binary Images:\n0x10864e000 - 0x10ee0ffff +App x86_64 (400.9.4 - 1.0.0) <2d903291397d3d14bfca52c7fb8c5e00> /p/App\n"

	t.Run("image_size is end minus start", func(t *testing.T) {
		img := parse(t, images).BinaryImages[0]
		if img.Size != 108797951 || img.CodeID() != "2d903291397d3d14bfca52c7fb8c5e00" || img.DebugID() != "2d903291-397d-3d14-bfca-52c7fb8c5e00" || img.Version != "400.9.4 - 1.0.0" || img.Name != "App" {
			t.Errorf("%+v %s %s", img, img.CodeID(), img.DebugID())
		}
		zero := parse(t, "Binary Images:\n0x1000 - 0x1000 z arm64  <2d903291397d3d14bfca52c7fb8c5e00> /z\n").BinaryImages[0]
		if _, ok := zero.ImageSize(); ok {
			t.Error("a zero size must give no image_size")
		}
	})
	t.Run("frame forms", func(t *testing.T) {
		r := parse(t, "Thread 0:\n"+
			"0   A  0x00007fff61bc6c2a 0x7fff61bc6000 + 3114\n"+
			"1   B  0x0000000108b702a6 a_function_here + 64\n"+
			"2   C  0x00000000000ea004 main (main.m:16)\n"+
			"3   ???  0x0000000054485244 0x0 + 0\n")
		want := []Frame{
			{Num: 0, Module: "A", Address: 0x7fff61bc6c2a, Offset: 3114, HasOffset: true},
			{Num: 1, Module: "B", Address: 0x108b702a6, Symbol: "a_function_here", Offset: 64, HasOffset: true},
			{Num: 2, Module: "C", Address: 0xea004, Symbol: "main", FileName: "main.m", Line: 16, HasLine: true},
			{Num: 3, Address: 0x54485244, HasOffset: true},
		}
		if !reflect.DeepEqual(r.Threads[0].Frames, want) {
			t.Errorf("got  %+v\nwant %+v", r.Threads[0].Frames, want)
		}
	})
	t.Run("registers go to the first crashed thread", func(t *testing.T) {
		r := parse(t, "Thread 0:\nThread 1 Crashed: Test Thread Name\nThread 2 Crashed:\n\n"+
			"Thread 7 crashed with X86-64 Thread State:\n   rip: 0x00000001090a0132    rbp: 0x0000700015a616d0\n\n"+
			"Thread 1 crashed with X86-64 Thread State:\n   rip: 0x2 rsp: 0x3\n")
		if r.Threads[0].Registers != nil || r.Threads[2].Registers != nil {
			t.Error("registers on a thread that is not the first crashed one")
		}
		want := map[string]uint64{"rip": 2, "rbp": 0x700015a616d0, "rsp": 3}
		if !reflect.DeepEqual(r.Threads[1].Registers, want) || r.Threads[1].Name != "Test Thread Name" || !r.Threads[1].Crashed {
			t.Errorf("%+v", r.Threads[1])
		}
	})
	t.Run("64-bit thread state headings give no registers", func(t *testing.T) {
		r := parse(t, "Thread 0 Crashed:\n0 A 0x1 f + 1\n\nThread 0 crashed with ARM Thread State (64-bit):\n    x0: 0x0000000000000001   x1: 0x0000000000000002\n")
		if r.Threads[0].Registers != nil {
			t.Errorf("registers %v", r.Threads[0].Registers)
		}
		if v, _ := r.Value("x0"); v != "0x0000000000000001   x1: 0x0000000000000002" {
			t.Errorf("x0 header %q", v)
		}
	})
	t.Run("application specific information", func(t *testing.T) {
		r := parse(t, "Exception Codes: SEGV_MAPERR at 0x88\nApplication Specific Information:\n\nobjc_msgSend() selector name: respondsToSelector:\n  more information here\n\n"+images)
		const want = "objc_msgSend() selector name: respondsToSelector:\n  more information here"
		if d, ok := r.CrashDetails(); r.ApplicationSpecificInformation != want || !ok || d != want {
			t.Errorf("%q", r.ApplicationSpecificInformation)
		}
	})
	t.Run("crash details fall back in order", func(t *testing.T) {
		for _, tc := range []struct{ headers, want string }{
			{"Exception Codes: C\nException Subtype: S\nException Message: M\n", "M"},
			{"Exception Codes: C\nException Subtype: S\n", "S"},
			{"Exception Codes: C\n", "C"},
			{"Exception Message:\nException Codes: C\n", ""},
		} {
			r := parse(t, tc.headers+images)
			if d, ok := r.CrashDetails(); !ok || d != tc.want {
				t.Errorf("%q: got %q %v, want %q", tc.headers, d, ok, tc.want)
			}
		}
		if _, ok := parse(t, images).CrashDetails(); ok {
			t.Error("crash details without any source")
		}
	})
	t.Run("system info", func(t *testing.T) {
		for _, tc := range []struct {
			headers string
			want    SystemInfo
		}{
			{"OS Version: Mac OS X 10.14.0 (18A391)\nHardware Model: MacBookPro14,3\nCode Type: X86-64 (Native)\n",
				SystemInfo{OSName: "macOS", OSVersion: "10.14.0", OSBuild: "18A391", CPUArch: "x86_64", DeviceModel: "MacBookPro14,3"}},
			{"OS Version: iPhone OS 13.4.1 (17E262)\nHardware Model: iPhone12,1\nCode Type: ARM-64\n",
				SystemInfo{OSName: "iPhone OS 13.4.1 (17E262)", CPUArch: "arm64", DeviceModel: "iPhone12,1"}},
			// "19H2" is not hexadecimal: the macOS form does not match at all.
			{"OS Version: Mac OS X 10.15.7 (19H2)\nCode Type: PowerPC\n",
				SystemInfo{OSName: "Mac OS X 10.15.7 (19H2)", CPUArch: "unknown"}},
			{"OS Version: Mac OS X 10.15.1 (19B88)\n",
				SystemInfo{OSName: "macOS", OSVersion: "10.15.1", OSBuild: "19B88", CPUArch: "unknown"}},
			{"Code Type: arm64e\n", SystemInfo{CPUArch: "arm64e"}},
			{"Code Type: X86 (Native)\n", SystemInfo{CPUArch: "x86"}},
			{"", SystemInfo{CPUArch: "unknown"}},
		} {
			got := parse(t, tc.headers+images).SystemInfo()
			if got != tc.want {
				t.Errorf("%q: got %+v, want %+v", tc.headers, got, tc.want)
			}
		}
	})
	t.Run("thread names", func(t *testing.T) {
		r := parse(t, "Thread 0 name:  Dispatch queue: com.apple.main-thread\nThread 0 Crashed:\nThread 1:\n"+
			"Thread 1 name:  worker  Dispatch queue: com.example.q\nThread 3: Heading Name\nThread 3:\nThread 3 name: N\n")
		got := [][2]string{}
		for _, th := range r.Threads {
			got = append(got, [2]string{th.Name, th.DispatchQueue})
		}
		want := [][2]string{{"Dispatch queue: com.apple.main-thread", ""}, {"worker", "com.example.q"}, {"N", ""}, {"", ""}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
	})
	t.Run("special headers", func(t *testing.T) {
		r := parse(t, "Incident Identifier: 5C32DF84-31A0-43E7-87D0-239F7F594940\nReport Version: 104\nDate/Time: 2019-01-09 17:42:22 +0000\nDate/Time: 2020-03-27 18:06:51.4969 -0700\n"+images)
		if fmt.Sprintf("%x", r.IncidentID) != "5c32df8431a043e787d0239f7f594940" || r.ReportVersion != 104 ||
			!r.HasTimestamp || r.Timestamp.Unix() != 1585357611 || r.Timestamp.Nanosecond() != 496900000 {
			t.Errorf("%+v", r)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	text, err := os.ReadFile("testdata/ios-arm64.crash")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := Parse(text); err != nil {
			b.Fatal(err)
		}
	}
}
