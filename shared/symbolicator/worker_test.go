package symbolicator

import (
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var (
	shortID  = regexp.MustCompile(`^[0-9]{1,4}$`)
	randomID = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

func TestWorkerIDSticky(t *testing.T) {
	w := NewWorkerID(0, rand.NewPCG(1, 2))
	first := w.Get()
	if !shortID.MatchString(first) {
		t.Fatalf("sticky id %q, want a number below 5000", first)
	}
	if n, _ := strconv.Atoi(first); n >= 5000 {
		t.Errorf("sticky id %d, want below 5000", n)
	}
	for range 100 {
		if got := w.Get(); got != first {
			t.Fatalf("Get() = %q after %q with sampling off", got, first)
		}
	}
	if w.Current() != first {
		t.Errorf("Current() = %q, want %q", w.Current(), first)
	}
}

func TestWorkerIDResetDrawsAnother(t *testing.T) {
	w := NewWorkerID(0, rand.NewPCG(3, 4))
	seen := w.Current()
	for range 1000 {
		w.Reset()
		if w.Current() == seen {
			t.Fatalf("Reset kept id %s", seen)
		}
		seen = w.Current()
	}
}

func TestWorkerIDSampling(t *testing.T) {
	tests := []struct {
		rate     float64
		min, max int // random ids among 2000 calls
	}{
		{0, 0, 0},
		{-1, 0, 0},
		{0.1, 150, 250},
		{0.5, 900, 1100},
		{1, 2000, 2000},
		{7, 2000, 2000},
	}
	for _, tt := range tests {
		t.Run(strconv.FormatFloat(tt.rate, 'g', -1, 64), func(t *testing.T) {
			w := NewWorkerID(tt.rate, rand.NewPCG(42, 7))
			sticky := w.Current()
			random := map[string]bool{}
			for range 2000 {
				id := w.Get()
				switch {
				case id == sticky:
				case randomID.MatchString(id):
					if random[id] {
						t.Fatalf("random id %s drawn twice", id)
					}
					random[id] = true
				default:
					t.Fatalf("Get() = %q: neither the sticky id %q nor a random one", id, sticky)
				}
			}
			if len(random) < tt.min || len(random) > tt.max {
				t.Errorf("%d random ids in 2000 calls at rate %v, want %d to %d", len(random), tt.rate, tt.min, tt.max)
			}
			if w.Current() != sticky {
				t.Errorf("sampling changed the sticky id from %s to %s", sticky, w.Current())
			}
		})
	}
}

func TestWorkerIDDeterministicWithSeed(t *testing.T) {
	a := NewWorkerID(0.3, rand.NewPCG(9, 9))
	b := NewWorkerID(0.3, rand.NewPCG(9, 9))
	for i := range 200 {
		if x, y := a.Get(), b.Get(); x != y {
			t.Fatalf("call %d: %s != %s with the same seed", i, x, y)
		}
		if i%50 == 0 {
			a.Reset()
			b.Reset()
		}
	}
}

func TestWorkerIDSet(t *testing.T) {
	w := NewWorkerID(0, nil)
	if err := w.Set("1234"); err != nil {
		t.Fatal(err)
	}
	if w.Current() != "1234" || w.Get() != "1234" {
		t.Errorf("after Set: Current %q Get %q", w.Current(), w.Get())
	}
	for _, bad := range []string{"", "a b", "x\r\nInjected: 1", strings.Repeat("9", 65), "caf\u00e9"} {
		if err := w.Set(bad); err == nil || !strings.Contains(err.Error(), "worker id") {
			t.Errorf("Set(%q) = %v, want an error naming the worker id", bad, err)
		}
	}
	if w.Current() != "1234" {
		t.Errorf("a refused Set changed the id to %q", w.Current())
	}
}

func TestWorkerIDConcurrent(t *testing.T) {
	w := NewWorkerID(0.5, nil)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range 500 {
				w.Get()
				if i%100 == 0 {
					w.Reset()
				}
			}
		})
	}
	wg.Wait()
}

func TestWorkerResetChangesHeader(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		answerJSON(w, 200, pendingBody)
	})
	h := newHarness(t, s, nil)
	ctx := ctxT(t)
	first, err := h.sess.Symbolicate(ctx, symbolicateReq())
	if err != nil {
		t.Fatal(err)
	}
	// The loop's reaction to an unavailable service: a new worker id.
	if _, err := h.sess.Query(ctx, first.RequestID); err == nil {
		t.Fatal("want ServiceUnavailable")
	}
	h.workers.Reset()
	second, err := h.sess.Symbolicate(ctx, symbolicateReq())
	if err != nil {
		t.Fatal(err)
	}
	reqs := s.requests()
	h1, h2, h3 := reqs[0].header.Get("X-Sentry-Worker-Id"), reqs[1].header.Get("X-Sentry-Worker-Id"), reqs[2].header.Get("X-Sentry-Worker-Id")
	if h1 != h2 || h3 == h1 {
		t.Errorf("worker ids %s, %s, then after Reset %s: want the same id until Reset and another after", h1, h2, h3)
	}
	if second.WorkerID != h3 || first.WorkerID != h1 {
		t.Errorf("Response.WorkerID %s and %s, want the headers %s and %s", first.WorkerID, second.WorkerID, h1, h3)
	}
}

func TestWorkerSampledIDInHeader(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { answerJSON(w, 200, pendingBody) })
	h := newHarness(t, s, nil)
	h.sess.workers = NewWorkerID(1, rand.NewPCG(5, 5))
	resp, err := h.sess.Query(ctxT(t), "r1")
	if err != nil {
		t.Fatal(err)
	}
	got := s.requests()[0].header.Get("X-Sentry-Worker-Id")
	if !randomID.MatchString(got) || resp.WorkerID != got {
		t.Errorf("header %q, Response.WorkerID %q: want the same random id", got, resp.WorkerID)
	}
}
