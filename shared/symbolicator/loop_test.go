package symbolicator

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	want := []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, 1600 * time.Millisecond, 3200 * time.Millisecond, 5 * time.Second, 5 * time.Second}
	var b Backoff
	for i, w := range want {
		if got := b.Next(); got != w {
			t.Errorf("Next() #%d = %v, want %v", i+1, got, w)
		}
		if got := BackoffDelay(i + 1); got != w {
			t.Errorf("BackoffDelay(%d) = %v, want %v", i+1, got, w)
		}
	}
	b.Reset()
	if got := b.Next(); got != 0 {
		t.Errorf("after Reset Next() = %v, want 0", got)
	}
	custom := Backoff{Initial: time.Second, Max: 3 * time.Second}
	for i, w := range []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second} {
		if got := custom.Next(); got != w {
			t.Errorf("custom Next() #%d = %v, want %v", i+1, got, w)
		}
	}
	if got := BackoffDelay(1000); got != 5*time.Second {
		t.Errorf("BackoffDelay(1000) = %v, want the 5 s cap", got)
	}
}

// loopServer answers creates (POST) and polls (GET) from two scripts; the
// last entry of a script repeats.
func loopServer(t *testing.T, creates, polls []func(http.ResponseWriter)) (s *server, nCreate, nPoll *atomic.Int32) {
	nCreate, nPoll = new(atomic.Int32), new(atomic.Int32)
	s = newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.Method == http.MethodPost {
			creates[min(int(nCreate.Add(1)), len(creates))-1](w)
			return
		}
		polls[min(int(nPoll.Add(1)), len(polls))-1](w)
	})
	return s, nCreate, nPoll
}

func status(code int, body string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) { answerJSON(w, code, body) }
}

func TestRun(t *testing.T) {
	pending, completed := status(200, pendingBody), status(200, completedBody)
	notFound, unavailable := status(404, ""), status(503, `{"detail":"maximum number of concurrent requests reached"}`)
	tests := []struct {
		name          string
		creates       []func(http.ResponseWriter)
		polls         []func(http.ResponseWriter)
		lc            LoopConfig
		wantStatus    string
		wantErr       []error
		wantCreates   int
		wantPolls     int
		wantWorkerIDs int // distinct worker ids seen by the server
	}{
		{"completed at once", []func(http.ResponseWriter){completed}, nil, LoopConfig{},
			StatusCompleted, nil, 1, 0, 1},
		{"polled until completed", []func(http.ResponseWriter){pending}, []func(http.ResponseWriter){pending, pending, completed}, LoopConfig{},
			StatusCompleted, nil, 1, 3, 1},
		{"failed ends the loop", []func(http.ResponseWriter){pending}, []func(http.ResponseWriter){status(200, `{"status":"failed","message":"x"}`)}, LoopConfig{},
			StatusFailed, nil, 1, 1, 1},
		{"lost task resubmitted", []func(http.ResponseWriter){pending, pending}, []func(http.ResponseWriter){notFound, completed}, LoopConfig{},
			StatusCompleted, nil, 2, 2, 1},
		{"unavailable: new worker id, resubmit", []func(http.ResponseWriter){unavailable, unavailable, pending}, []func(http.ResponseWriter){completed},
			LoopConfig{Backoff: Backoff{Initial: time.Millisecond, Max: time.Millisecond}},
			StatusCompleted, nil, 3, 1, 3},
		{"resubmit budget", []func(http.ResponseWriter){unavailable}, nil,
			LoopConfig{MaxResubmits: 3, Backoff: Backoff{Initial: time.Millisecond, Max: time.Millisecond}},
			"", []error{ErrResubmitBudget, ErrServiceUnavailable}, 4, 0, 4},
		{"no resubmits allowed", []func(http.ResponseWriter){pending}, []func(http.ResponseWriter){notFound}, LoopConfig{MaxResubmits: -1},
			"", []error{ErrResubmitBudget, ErrTaskNotFound}, 1, 1, 1},
		{"deadline", []func(http.ResponseWriter){pending}, []func(http.ResponseWriter){pending},
			LoopConfig{Deadline: 50 * time.Millisecond, PollInterval: 5 * time.Millisecond},
			"", []error{ErrDeadline}, 1, -1, 1},
		{"malformed answer returned as is", []func(http.ResponseWriter){status(200, "nope")}, nil, LoopConfig{},
			"", []error{ErrMalformedResponse}, 1, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, nCreate, nPoll := loopServer(t, tt.creates, tt.polls)
			h := newHarness(t, s, nil)
			resp, err := h.sess.Run(ctxT(t), func(ctx context.Context) (Response, error) {
				return h.sess.Symbolicate(ctx, symbolicateReq())
			}, tt.lc)
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want it to match %v", err, want)
				}
			}
			if tt.wantErr == nil && (err != nil || resp.Status != tt.wantStatus) {
				t.Fatalf("Run = %+v, %v; want status %s", resp, err, tt.wantStatus)
			}
			if int(nCreate.Load()) != tt.wantCreates || (tt.wantPolls >= 0 && int(nPoll.Load()) != tt.wantPolls) {
				t.Errorf("%d creates and %d polls, want %d and %d", nCreate.Load(), nPoll.Load(), tt.wantCreates, tt.wantPolls)
			}
			ids := map[string]bool{}
			for _, r := range s.requests() {
				ids[r.header.Get("X-Sentry-Worker-Id")] = true
			}
			if len(ids) != tt.wantWorkerIDs {
				t.Errorf("%d distinct worker ids, want %d", len(ids), tt.wantWorkerIDs)
			}
		})
	}
}

func TestRunLoopErrorSaysWhy(t *testing.T) {
	s, _, _ := loopServer(t, []func(http.ResponseWriter){status(503, "")}, nil)
	h := newHarness(t, s, nil)
	_, err := h.sess.Run(ctxT(t), func(ctx context.Context) (Response, error) {
		return h.sess.Symbolicate(ctx, symbolicateReq())
	}, LoopConfig{MaxResubmits: 1, Backoff: Backoff{Initial: time.Millisecond}})
	var le *LoopError
	if !errors.As(err, &le) || le.Resubmits != 1 {
		t.Fatalf("err = %v, want *LoopError after 1 resubmit", err)
	}
	for _, s := range []string{"resubmit budget", "1 resubmits", "HTTP 503"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
}

func TestRunCancelled(t *testing.T) {
	var s *server
	s = newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { s.hang(r) })
	h := newHarness(t, s, nil)
	ctx, cancel := context.WithCancel(ctxT(t))
	go func() { <-s.attempted; cancel() }()
	_, err := h.sess.Run(ctx, func(ctx context.Context) (Response, error) {
		return h.sess.Symbolicate(ctx, symbolicateReq())
	}, LoopConfig{})
	var le *LoopError
	if !errors.Is(err, context.Canceled) || errors.As(err, &le) {
		t.Fatalf("err = %v, want the caller's cancellation", err)
	}
}

func TestRunNetworkErrorReturned(t *testing.T) {
	s, nCreate, _ := loopServer(t, []func(http.ResponseWriter){func(w http.ResponseWriter) { dropConnection(w) }}, nil)
	h := newHarness(t, s, nil)
	_, err := h.sess.Run(ctxT(t), func(ctx context.Context) (Response, error) {
		return h.sess.Symbolicate(ctx, symbolicateReq())
	}, LoopConfig{})
	if !errors.Is(err, ErrNetwork) {
		t.Fatalf("err = %v, want ErrNetwork", err)
	}
	if nCreate.Load() != 4 {
		t.Errorf("%d creates, want 4: the session's retries only, no resubmits on top", nCreate.Load())
	}
}
