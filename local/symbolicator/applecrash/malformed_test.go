package applecrash

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const goodImage = "0x100000000 - 0x100003fff +MyApp arm64  <a1b2c3d4e5f60718293a4b5c6d7e8f90> /private/var/MyApp.app/MyApp\n"

// TestMalformed: bad input ends in an error that names the problem where
// the reference fails (or panics), and in the same partial report where
// the reference reads on.
func TestMalformed(t *testing.T) {
	manyThreads := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "Thread %d:\n", i)
		}
		return b.String()
	}
	manyFrames := func(n int) string {
		var b strings.Builder
		b.WriteString("Thread 0 Crashed:\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "%d MyApp 0x%x f + 1\n", i, 0x100000000+i)
		}
		return b.String()
	}
	manyImages := func(n int) string {
		var b strings.Builder
		b.WriteString("Binary Images:\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "0x%x - 0x%x lib%d arm64  <a1b2c3d4e5f60718293a4b5c6d7e8f90> /usr/lib/lib%d\n", i<<12, i<<12|0xfff, i, i)
		}
		return b.String()
	}
	manyRegisters := func(n int) string {
		var b strings.Builder
		b.WriteString("Thread 0 Crashed:\nThread 0 crashed with ARM-64 Thread State:\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, " r%d: 0x%x", i, i)
		}
		return b.String() + "\n"
	}

	tests := []struct {
		name    string
		text    string
		wantErr string                // substring of the error; "" for success
		check   func(r *Report) error // on success
	}{
		{name: "empty", text: "", wantErr: `not an Apple crash report: no thread backtrace`},
		{name: "prose", text: "Dear team,\nthe app crashed: see attached.\n", wantErr: `no "Binary Images:" section`},
		{name: "JSON ips", text: `{"app_name":"MyApp","timestamp":"2022-09-03 13:18:29.00 -0700","bug_type":"309"}` + "\n{\n  \"uptime\" : 100000,\n}\n",
			wantErr: "JSON .ips report"},
		{name: "images heading without images", text: "Binary Images:\nnothing here\n", wantErr: `"Binary Images:" section lists no image`},
		{name: "minidump bytes", text: "MDMP\x93\xa7\x00\x00", wantErr: "line 1: not valid UTF-8"},
		{name: "not UTF-8 later", text: "Thread 0:\n0 MyApp 0x1000 f + 1\n\xff\xfe\n", wantErr: "line 3: not valid UTF-8"},
		{name: "truncated inside a UTF-8 sequence", text: "Binary Images:\n" + goodImage + "0x2000 - 0x2fff Caf\xc3", wantErr: "line 3: not valid UTF-8"},
		{name: "truncated mid image line keeps the images before", text: "Binary Images:\n" + goodImage + "0x100004000 - 0x100007fff +Other arm64  <a1b2c3d4e5f6",
			check: func(r *Report) error {
				if len(r.BinaryImages) != 1 || r.BinaryImages[0].Name != "MyApp" {
					return fmt.Errorf("images %+v", r.BinaryImages)
				}
				return nil
			}},
		{name: "truncated after the identifier", text: "Binary Images:\n" + goodImage + "0x100004000 - 0x100007fff +Other arm64  <a1b2c3d4e5f60718293a4b5c6d7e8f90>",
			check: func(r *Report) error {
				if len(r.BinaryImages) != 1 {
					return fmt.Errorf("images %+v", r.BinaryImages)
				}
				return nil
			}},
		{name: "truncated mid frame line", text: "Thread 0 Crashed:\n0 MyApp 0x100001000 main + 4\n1 MyApp 0x1000",
			check: func(r *Report) error {
				if len(r.Threads) != 1 || len(r.Threads[0].Frames) != 1 {
					return fmt.Errorf("threads %+v", r.Threads)
				}
				return nil
			}},
		{name: "image identifier not a UUID", text: "Binary Images:\n0x1000 - 0x1fff MyApp arm64  <a1b2c3> /MyApp\n", wantErr: "line 2: binary image identifier <a1b2c3> is not a UUID"},
		{name: "image end before start", text: "Binary Images:\n0x200000000 - 0x100003fff MyApp arm64  <a1b2c3d4e5f60718293a4b5c6d7e8f90> /MyApp\n",
			check: func(r *Report) error {
				img := r.BinaryImages[0]
				start, end := uint64(0x200000000), uint64(0x100003fff)
				if img.Size != end-start || img.Size != 0xffffffff00003fff || img.Addr != start || img.End != end {
					return fmt.Errorf("image %+v: the size must wrap as the reference's u64 subtraction does", img)
				}
				return nil
			}},
		{name: "image address beyond 64 bits", text: "Binary Images:\n0x1ffffffffffffffff - 0x2ffffffffffffffff MyApp arm64  <a1b2c3d4e5f60718293a4b5c6d7e8f90> /MyApp\n",
			wantErr: "line 2: binary image start address 0x1ffffffffffffffff does not fit 64 bits"},
		{name: "image end beyond 64 bits", text: "Binary Images:\n0x1000 - 0x10000000000000000 MyApp arm64  <a1b2c3d4e5f60718293a4b5c6d7e8f90> /MyApp\n",
			wantErr: "binary image end address 0x10000000000000000 does not fit 64 bits"},
		{name: "leading zeros are not an overflow", text: "Binary Images:\n0x00000000000000000001000 - 0x0000000000000000001fff MyApp arm64  <a1b2c3d4e5f60718293a4b5c6d7e8f90> /MyApp\n",
			check: func(r *Report) error {
				if r.BinaryImages[0].Addr != 0x1000 || r.BinaryImages[0].Size != 0xfff {
					return fmt.Errorf("%+v", r.BinaryImages[0])
				}
				return nil
			}},
		{name: "frame address beyond 64 bits", text: "Thread 0:\n0 MyApp 0x123456789abcdef012 f + 1\n", wantErr: "line 2: frame address 0x123456789abcdef012 does not fit 64 bits"},
		{name: "frame line number beyond 32 bits", text: "Thread 0:\n0 MyApp 0x1000 f (a.c:4294967296)\n", wantErr: "frame line number 4294967296 does not fit 32 bits"},
		{name: "frame offset beyond 64 bits is no error", text: "Thread 0:\n0 MyApp 0x1000 f + 99999999999999999999999\n",
			check: func(r *Report) error {
				if f := r.Threads[0].Frames[0]; f.HasOffset || f.Symbol != "f" {
					return fmt.Errorf("%+v", f)
				}
				return nil
			}},
		{name: "register beyond 64 bits", text: "Thread 0 Crashed:\nThread 0 crashed with X86-64 Thread State:\n rip: 0x10000000000000000\n", wantErr: "line 3: register rip value 0x10000000000000000 does not fit 64 bits"},
		{name: "thread number beyond 64 bits", text: "Thread 18446744073709551616:\n", wantErr: "thread number 18446744073709551616 does not fit 64 bits"},
		{name: "thread name number beyond 64 bits", text: "Thread 99999999999999999999 name: x\n", wantErr: "thread number 99999999999999999999 does not fit 64 bits"},
		{name: "incident identifier", text: "Incident Identifier: TODO\nBinary Images:\n" + goodImage, wantErr: `line 1: Incident Identifier "TODO" is not a UUID`},
		{name: "report version", text: "Report Version: 104.1\n", wantErr: `Report Version "104.1" is not an unsigned 32-bit number`},
		{name: "report version overflow", text: "Report Version: 4294967296\n", wantErr: `Report Version "4294967296"`},
		{name: "date without offset", text: "Date/Time: 2019-01-09 17:42:22\n", wantErr: `Date/Time "2019-01-09 17:42:22": expected an offset sign`},
		{name: "date out of range", text: "Date/Time: 2019-02-30 17:42:22 +0000\n", wantErr: "day out of range"},
		{name: "date garbage", text: "Date/Time: yesterday\n", wantErr: "expected a number at offset 0"},
		{name: "date fraction digits", text: "Date/Time: 2024-03-14 09:26:53.123456789123 -0330\nBinary Images:\n" + goodImage,
			check: func(r *Report) error {
				if r.Timestamp.Format(time.RFC3339Nano) != "2024-03-14T12:56:53.123456789Z" {
					return fmt.Errorf("%v", r.Timestamp)
				}
				return nil
			}},
		{name: "a million threads", text: manyThreads(1_000_000), wantErr: fmt.Sprintf("line %d: more than %d threads", MaxThreads+1, MaxThreads)},
		{name: "threads at the limit", text: manyThreads(MaxThreads),
			check: func(r *Report) error {
				if len(r.Threads) != MaxThreads {
					return fmt.Errorf("%d threads", len(r.Threads))
				}
				return nil
			}},
		{name: "too many frames", text: manyFrames(MaxFramesPerThread + 1), wantErr: fmt.Sprintf("thread 0 has more than %d frames", MaxFramesPerThread)},
		{name: "too many images", text: manyImages(MaxImages + 1), wantErr: fmt.Sprintf("more than %d binary images", MaxImages)},
		{name: "too many register names", text: manyRegisters(MaxRegisters + 1), wantErr: fmt.Sprintf("more than %d register names", MaxRegisters)},
		{name: "only thread headings", text: "Thread 0:\nThread 1 Crashed:\n",
			check: func(r *Report) error {
				if len(r.Threads) != 2 || !r.Threads[1].Crashed {
					return fmt.Errorf("%+v", r.Threads)
				}
				return nil
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse([]byte(tc.text))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				if r != nil {
					t.Error("a report with the error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.check(r); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestTooLarge(t *testing.T) {
	_, err := Parse(make([]byte, MaxSize+1))
	if err == nil || !strings.Contains(err.Error(), "exceeds the limit") {
		t.Fatalf("error %v", err)
	}
}

// TestLongLines: lines built to make a backtracking matcher (or a careless
// linear scan per candidate split) take quadratic time parse in well under
// a minute per megabyte even under the race detector on a busy machine
// (linear: about a second; quadratic: hours).
func TestLongLines(t *testing.T) {
	const n = 1 << 20
	lines := []string{
		"Binary Images:\n0x1 - 0x2 " + strings.Repeat("a (b ", n/5) + "\n",
		"Binary Images:\n0x1 - 0x2 " + strings.Repeat("x  <y ", n/6) + "\n",
		"Binary Images:\n0x1 - 0x2 " + strings.Repeat(" ", n) + "z\n",
		"Binary Images:\n0x1 - 0x2 " + strings.Repeat("a arm64 (v) ", n/12) + "\n",
		"Thread 0:\n0 " + strings.Repeat("m ", n/2) + "\n",
		"Thread 0:\n0" + strings.Repeat(" ", n) + "0x1 f\n",
		"Thread 0 Crashed:\nThread 0 crashed with ARM-64 Thread State:\n" + strings.Repeat("ab", n/2) + ":\n",
		"Thread 0 name: " + strings.Repeat("x Dispatch ", n/11) + "\n",
		"Application Specific Information:\n" + strings.Repeat("text ", n/5) + "\n",
	}
	for i, text := range lines {
		start := time.Now()
		_, _ = Parse([]byte(text))
		if d := time.Since(start); d > time.Minute { // quadratic time would take hours
			t.Errorf("line %d: %v for %d bytes", i, d, len(text))
		}
	}
}

// FuzzParse: Parse never panics, stays within its limits, and every line
// of the input is matched as the reference expressions match it.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.crash")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	for _, line := range grammarLines {
		f.Add([]byte(line + "\n"))
	}
	f.Add([]byte("Thread 0 Crashed:\n0 ??? 0x0 0x0 + 0\n\nThread 0 crashed with X86-64 Thread State:\n rip: 0x1\n\nBinary Images:\n" + goodImage))
	f.Add([]byte("Application Specific Information:\n\nx\n\nFiltered syslog:\ny\n\nThread 1 name: a  Dispatch queue: b\nThread 1:\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		r, err := Parse(text)
		if err != nil {
			if r != nil {
				t.Fatal("a report with an error")
			}
			if !strings.HasPrefix(err.Error(), "applecrash: ") {
				t.Fatalf("unnamed error %q", err)
			}
		} else {
			if len(r.Threads) == 0 && len(r.BinaryImages) == 0 {
				t.Fatal("a report with neither threads nor images")
			}
			if len(r.Threads) > MaxThreads || len(r.BinaryImages) > MaxImages {
				t.Fatal("limits exceeded")
			}
			crashed := false
			for _, th := range r.Threads {
				if th.Registers != nil && (!th.Crashed || crashed) {
					t.Fatal("registers on a thread other than the first crashed one")
				}
				crashed = crashed || th.Crashed
			}
			_ = r.SystemInfo()
			_, _ = r.CrashDetails()
			for i := range r.BinaryImages {
				_ = r.BinaryImages[i].DebugID()
			}
		}
		if len(text) > 1<<16 {
			return // keep each input fast
		}
		for _, line := range strings.Split(string(text), "\n") {
			if line = trimRight(line); len(line) < 4096 && utf8.ValidString(line) {
				checkLine(t, line)
			}
		}
	})
}
