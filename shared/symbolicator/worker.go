package symbolicator

import (
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
)

// workerIDSpace bounds the sticky worker ids: the reference draws them
// modulo 5000 to keep the cardinality of metrics tagged with them low.
const workerIDSpace = 5000

// maxWorkerIDLen bounds ids restored with Set (a random id is 32 hex digits).
const maxWorkerIDLen = 64

// WorkerID is the x-sentry-worker-id a process sends to Symbolicator. The
// id is short and sticky for the life of the worker, so Symbolicator's load
// balancing keeps one worker's tasks together; Reset draws a new one after
// the service was unavailable, steering the worker elsewhere. A configurable
// sample of calls to Get returns a fresh random id instead, which spreads
// some load regardless of stickiness.
//
// Create one per process and share it between sessions. It is safe for
// concurrent use.
type WorkerID struct {
	mu   sync.Mutex
	rate float64
	rnd  *rand.Rand
	id   string
}

// NewWorkerID returns a worker id source where a sampleRate fraction of
// calls to Get (clamped to [0, 1]) returns a random id. src drives all
// randomness; nil means a randomly seeded source. Tests pass a seeded one.
func NewWorkerID(sampleRate float64, src rand.Source) *WorkerID {
	switch {
	case math.IsNaN(sampleRate) || sampleRate < 0:
		sampleRate = 0
	case sampleRate > 1:
		sampleRate = 1
	}
	if src == nil {
		src = rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
	return &WorkerID{rate: sampleRate, rnd: rand.New(src)}
}

// Get returns the id to send with one request: usually the sticky id,
// for a sampled call a random 32-hex-digit id that is not kept.
func (w *WorkerID) Get() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.rate > 0 && w.rnd.Float64() < w.rate {
		var b [16]byte
		for i := 0; i < len(b); i += 8 {
			v := w.rnd.Uint64()
			for j := range 8 {
				b[i+j] = byte(v >> (8 * j))
			}
		}
		return hex.EncodeToString(b[:])
	}
	return w.currentLocked()
}

// Current returns the sticky id, drawing one if there is none yet. It is the
// id to store in a task record so that a later poll can Set it again.
func (w *WorkerID) Current() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.currentLocked()
}

func (w *WorkerID) currentLocked() string {
	if w.id == "" {
		w.id = strconv.Itoa(w.rnd.IntN(workerIDSpace))
	}
	return w.id
}

// Reset draws a new sticky id, different from the current one.
func (w *WorkerID) Reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	old := w.id
	for {
		w.id = strconv.Itoa(w.rnd.IntN(workerIDSpace))
		if w.id != old {
			return
		}
	}
}

// Set restores a sticky id, as read back from a task record. The id must be
// 1 to 64 visible ASCII characters, since it travels as a header value.
func (w *WorkerID) Set(id string) error {
	if id == "" || len(id) > maxWorkerIDLen {
		return fmt.Errorf("worker id: length %d, want 1 to %d characters", len(id), maxWorkerIDLen)
	}
	for i := range len(id) {
		if c := id[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("worker id: character %q at %d is not visible ASCII", c, i)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.id = id
	return nil
}
