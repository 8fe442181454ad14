package chaos_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/symflow/symflow/local/chaos"
)

func TestParseMix(t *testing.T) {
	tests := []struct {
		in      string
		want    chaos.Mix
		errHas  string
		wantStr string
	}{
		{in: "", want: chaos.Mix{}},
		{in: "lost=0.05,unavailable=0.05", want: chaos.Mix{chaos.Lost: 0.05, chaos.Unavailable: 0.05}, wantStr: "lost=0.05,unavailable=0.05"},
		{in: " reset=0.1 , slow=0.2", want: chaos.Mix{chaos.Reset: 0.1, chaos.Slow: 0.2}, wantStr: "reset=0.1,slow=0.2"},
		{in: "lost=0.5,lost=0.25", want: chaos.Mix{chaos.Lost: 0.75}, wantStr: "lost=0.75"},
		{in: "bogus=0.1", errHas: `unknown fault "bogus"`},
		{in: "none=0.1", errHas: `unknown fault "none"`},
		{in: "lost", errHas: "want FAULT=PROBABILITY"},
		{in: "lost=x", errHas: `probability "x"`},
		{in: "lost=1.5", errHas: `probability "1.5"`},
		{in: "lost=-0.1", errHas: `probability "-0.1"`},
		{in: "lost=0.6,reset=0.6", errHas: "add up to 1.200"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := chaos.ParseMix(tt.in)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err = %v, want one saying %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("mix = %v, want %v", got, tt.want)
			}
			for f, p := range tt.want {
				if got[f] != p {
					t.Errorf("%s = %v, want %v", f, got[f], p)
				}
			}
			if got.String() != tt.wantStr {
				t.Errorf("String() = %q, want %q", got.String(), tt.wantStr)
			}
		})
	}
}

// symbolicator is a loopback stand-in answering the Symbolicator API: a
// submission completes at once, a poll of an unknown task is 404.
type symbolicator struct {
	hits    atomic.Int64
	workers atomic.Value
}

func (s *symbolicator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	s.workers.Store(r.Header.Get("X-Sentry-Worker-Id"))
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/healthcheck":
		io.WriteString(w, "ok")
	case r.Method == http.MethodPost && r.URL.Path == "/symbolicate":
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"status":"completed","stacktraces":[{"frames":[{"function":"main"}]}],"modules":[]}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"detail":"Task not found"}`)
	}
}

const completed = `{"status":"completed","stacktraces":[{"frames":[{"function":"main"}]}],"modules":[]}`

type answer struct {
	code   int
	ctype  string
	body   string
	netErr error
}

func call(t *testing.T, c *http.Client, method, url string) answer {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(`{"sources":[],"stacktraces":[],"modules":[]}`)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Sentry-Worker-Id", "w-1")
	resp, err := c.Do(req)
	if err != nil {
		return answer{netErr: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{netErr: err}
	}
	return answer{code: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), body: string(b)}
}

func start(t *testing.T, cfg chaos.Config) (*chaos.Server, *symbolicator) {
	t.Helper()
	sym := &symbolicator{}
	target := httptest.NewServer(sym)
	t.Cleanup(target.Close)
	cfg.Target = target.URL
	srv, err := chaos.Listen(cfg, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, sym
}

func requestID(t *testing.T, body string) string {
	t.Helper()
	var v struct {
		Status    string `json:"status"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Status != "pending" || v.RequestID == "" {
		t.Fatalf("want a pending answer with a request id, got %q (%v)", body, err)
	}
	return v.RequestID
}

// TestFaultsOnTheWire checks what a client sees for each fault.
func TestFaultsOnTheWire(t *testing.T) {
	c := &http.Client{Timeout: 5 * time.Second}
	t.Run("none passes through with headers", func(t *testing.T) {
		srv, sym := start(t, chaos.Config{})
		a := call(t, c, http.MethodPost, srv.URL+"symbolicate?timeout=1")
		if a.code != 200 || a.body != completed {
			t.Fatalf("got %+v", a)
		}
		if sym.workers.Load() != "w-1" {
			t.Errorf("worker id header did not reach the target: %v", sym.workers.Load())
		}
		if got := srv.Requests(); len(got) != 1 || got[0].Kind != "submit" || got[0].Fault != chaos.None || got[0].WorkerID != "w-1" {
			t.Errorf("requests = %+v", got)
		}
	})
	t.Run("lost: pending, then 404 without asking the target", func(t *testing.T) {
		srv, sym := start(t, chaos.Config{Script: []chaos.Fault{chaos.Lost}})
		id := requestID(t, call(t, c, http.MethodPost, srv.URL+"symbolicate").body)
		if a := call(t, c, http.MethodGet, srv.URL+"requests/"+id); a.code != 404 {
			t.Errorf("poll of a lost task: %+v", a)
		}
		if sym.hits.Load() != 0 {
			t.Errorf("the target saw %d requests", sym.hits.Load())
		}
		if srv.Counts()[chaos.Lost] != 1 {
			t.Errorf("counts = %v", srv.Counts())
		}
	})
	t.Run("lost on poll", func(t *testing.T) {
		srv, _ := start(t, chaos.Config{Script: []chaos.Fault{chaos.Pending, chaos.Lost}})
		id := requestID(t, call(t, c, http.MethodPost, srv.URL+"symbolicate").body)
		if a := call(t, c, http.MethodGet, srv.URL+"requests/"+id); a.code != 404 {
			t.Errorf("lost poll: %+v", a)
		}
		if a := call(t, c, http.MethodGet, srv.URL+"requests/"+id); a.code != 404 {
			t.Errorf("the lost task came back: %+v", a)
		}
	})
	t.Run("pending holds the answer for the first poll", func(t *testing.T) {
		srv, _ := start(t, chaos.Config{Script: []chaos.Fault{chaos.Pending}})
		id := requestID(t, call(t, c, http.MethodPost, srv.URL+"symbolicate").body)
		if a := call(t, c, http.MethodGet, srv.URL+"requests/"+id+"?timeout=1"); a.code != 200 || a.body != completed {
			t.Errorf("first poll: %+v", a)
		}
	})
	t.Run("unavailable alternates 503 and 502, in bursts", func(t *testing.T) {
		srv, sym := start(t, chaos.Config{Mix: chaos.Mix{chaos.Unavailable: 1}, Burst: 3})
		a := call(t, c, http.MethodPost, srv.URL+"symbolicate")
		if err := srv.SetMix(nil); err != nil {
			t.Fatal(err)
		}
		b := call(t, c, http.MethodPost, srv.URL+"symbolicate")
		d := call(t, c, http.MethodGet, srv.URL+"requests/x")
		e := call(t, c, http.MethodPost, srv.URL+"symbolicate")
		if a.code != 503 || b.code != 502 || d.code != 503 {
			t.Errorf("burst answered %d %d %d, want 503 502 503", a.code, b.code, d.code)
		}
		if e.code != 200 {
			t.Errorf("after the burst: %+v", e)
		}
		if sym.hits.Load() != 1 || srv.Counts()[chaos.Unavailable] != 3 {
			t.Errorf("target hits %d, counts %v", sym.hits.Load(), srv.Counts())
		}
	})
	t.Run("reset", func(t *testing.T) {
		srv, _ := start(t, chaos.Config{Script: []chaos.Fault{chaos.Reset}})
		if a := call(t, c, http.MethodPost, srv.URL+"symbolicate"); a.netErr == nil {
			t.Errorf("got an answer: %+v", a)
		}
	})
	t.Run("slow holds past the client's timeout", func(t *testing.T) {
		srv, sym := start(t, chaos.Config{Script: []chaos.Fault{chaos.Slow}, SlowDelay: time.Minute})
		impatient := &http.Client{Timeout: 100 * time.Millisecond}
		a := call(t, impatient, http.MethodPost, srv.URL+"symbolicate")
		var ne interface{ Timeout() bool }
		if !errors.As(a.netErr, &ne) || !ne.Timeout() {
			t.Errorf("want a client timeout, got %+v", a)
		}
		if sym.hits.Load() != 0 {
			t.Errorf("a slow request reached the target")
		}
	})
	t.Run("slow then dropped", func(t *testing.T) {
		srv, _ := start(t, chaos.Config{Script: []chaos.Fault{chaos.Slow}, SlowDelay: 10 * time.Millisecond})
		if a := call(t, c, http.MethodPost, srv.URL+"symbolicate"); a.netErr == nil {
			t.Errorf("got an answer: %+v", a)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		srv, _ := start(t, chaos.Config{Script: []chaos.Fault{chaos.Truncated}})
		a := call(t, c, http.MethodPost, srv.URL+"symbolicate")
		if a.code != 200 || a.body != completed[:len(completed)/2] || json.Valid([]byte(a.body)) {
			t.Errorf("got %+v", a)
		}
	})
	t.Run("cut", func(t *testing.T) {
		srv, _ := start(t, chaos.Config{Script: []chaos.Fault{chaos.Cut}})
		a := call(t, c, http.MethodPost, srv.URL+"symbolicate")
		if !errors.Is(a.netErr, io.ErrUnexpectedEOF) {
			t.Errorf("want an unexpected EOF reading the body, got %+v", a)
		}
	})
	t.Run("non-JSON", func(t *testing.T) {
		srv, _ := start(t, chaos.Config{Script: []chaos.Fault{chaos.NonJSON}})
		a := call(t, c, http.MethodPost, srv.URL+"symbolicate")
		if a.code != 200 || a.ctype != "text/html" || !strings.HasPrefix(a.body, "<html>") {
			t.Errorf("got %+v", a)
		}
	})
	for _, f := range []chaos.Fault{chaos.Failed, chaos.Timeout, chaos.InternalError} {
		t.Run(string(f), func(t *testing.T) {
			srv, _ := start(t, chaos.Config{Script: []chaos.Fault{f}})
			a := call(t, c, http.MethodPost, srv.URL+"symbolicate")
			var v struct{ Status string }
			json.Unmarshal([]byte(a.body), &v)
			if a.code != 200 || v.Status != string(f) {
				t.Errorf("got %+v", a)
			}
		})
	}
	t.Run("server error", func(t *testing.T) {
		srv, _ := start(t, chaos.Config{Script: []chaos.Fault{chaos.ServerError}})
		if a := call(t, c, http.MethodPost, srv.URL+"symbolicate"); a.code != 500 {
			t.Errorf("got %+v", a)
		}
	})
	t.Run("healthcheck is never faulted", func(t *testing.T) {
		srv, _ := start(t, chaos.Config{Mix: chaos.Mix{chaos.Reset: 1}})
		if a := call(t, c, http.MethodGet, srv.URL+"healthcheck"); a.code != 200 || a.body != "ok" {
			t.Errorf("got %+v", a)
		}
		if len(srv.Requests()) != 0 {
			t.Errorf("healthcheck recorded: %+v", srv.Requests())
		}
	})
}

// The same seed and mix give the same faults, at about the mix's rates.
func TestMixIsSeeded(t *testing.T) {
	const n = 400
	mix := chaos.Mix{chaos.Failed: 0.1, chaos.ServerError: 0.1, chaos.Truncated: 0.1}
	seq := func(seed uint64) []chaos.Fault {
		srv, _ := start(t, chaos.Config{Mix: mix, Seed: seed})
		c := &http.Client{}
		for range n {
			call(t, c, http.MethodPost, srv.URL+"symbolicate")
		}
		var out []chaos.Fault
		for _, r := range srv.Requests() {
			out = append(out, r.Fault)
		}
		return out
	}
	a, b, other := seq(7), seq(7), seq(8)
	if strings.Join(faultStrings(a), ",") != strings.Join(faultStrings(b), ",") {
		t.Error("the same seed gave different faults")
	}
	if strings.Join(faultStrings(a), ",") == strings.Join(faultStrings(other), ",") {
		t.Error("another seed gave the same faults")
	}
	counts := map[chaos.Fault]int{}
	for _, f := range a {
		counts[f]++
	}
	for f := range mix {
		if counts[f] < n/20 || counts[f] > n/5 {
			t.Errorf("%s drawn %d times of %d, want about %d", f, counts[f], n, n/10)
		}
	}
}

func faultStrings(fs []chaos.Fault) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f) + "."
	}
	return out
}

func TestBadConfig(t *testing.T) {
	for _, tt := range []struct {
		name, target, addr, errHas string
		mix                        chaos.Mix
	}{
		{name: "no target", addr: "127.0.0.1:0", errHas: "not an http(s) URL"},
		{name: "ftp target", target: "ftp://127.0.0.1/", addr: "127.0.0.1:0", errHas: "not an http(s) URL"},
		{name: "public address", target: "http://127.0.0.1:1/", addr: "0.0.0.0:0", errHas: "only loopback"},
		{name: "private address", target: "http://127.0.0.1:1/", addr: "10.0.0.1:0", errHas: "only loopback"},
		{name: "no port", target: "http://127.0.0.1:1/", addr: "127.0.0.1", errHas: "listen address"},
		{name: "mix over 1", target: "http://127.0.0.1:1/", addr: "127.0.0.1:0", mix: chaos.Mix{chaos.Lost: 0.7, chaos.Reset: 0.7}, errHas: "more than 1"},
		{name: "unknown fault", target: "http://127.0.0.1:1/", addr: "127.0.0.1:0", mix: chaos.Mix{"bogus": 0.1}, errHas: `unknown fault "bogus"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := chaos.Listen(chaos.Config{Target: tt.target, Mix: tt.mix}, tt.addr)
			if err == nil {
				srv.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("err %q does not say %q", err, tt.errHas)
			}
		})
	}
}
