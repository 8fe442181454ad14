package symbolicator

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/symflow/symflow/local/symbolicator/objfile"
)

// indexStore keeps the parsed indexes of debug files on disk (objfile's
// persisted index), like Symbolicator's symcaches: a service restarted
// on the same cache directory, or a second one sharing it, answers its
// first request for a known file from the index instead of parsing the
// file's DWARF again. The debug file is still fetched (its identity and
// content digest name the index; the walker reads unwind tables from it).
//
// An index is written once a parse succeeds, in the background, through
// a temporary file renamed into place, so that a reader never sees half
// of one. The write waits until the service has had no request running
// for a moment (at most persistDelay): on a small machine it otherwise
// takes a core from the request whose parse it persists, and from the
// answer's encoding. One that does not load (damaged, another format version,
// written for other bytes) is removed and the file parsed again. The
// directory is bounded by bytes: after each write the least recently
// used indexes (by modification time, which a load refreshes) are
// removed until the rest fit.
type indexStore struct {
	dir string
	max int64
	log *slog.Logger

	mu sync.Mutex // serializes evictions

	wmu     sync.Mutex // guards closed and the start of writes
	closed  bool
	closing chan struct{} // closed by close: pending writes stop waiting
	writes  sync.WaitGroup

	// loaded counts the indexes loaded instead of parsing a file.
	loaded atomic.Int64
}

// indexExt names the files of the store; anything else in the directory
// is left alone.
const indexExt = ".symflow-index"

// newIndexStore returns a store in dir bounded by max bytes, or nil when
// dir is empty (no persistence).
func newIndexStore(dir string, max int64, log *slog.Logger) *indexStore {
	if dir == "" {
		return nil
	}
	return &indexStore{dir: dir, max: max, log: log, closing: make(chan struct{})}
}

func (s *indexStore) path(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(s.dir, hex.EncodeToString(sum[:20])+indexExt)
}

// load returns the index persisted for key, or nil.
func (s *indexStore) load(key string) *objfile.File {
	if s == nil {
		return nil
	}
	p := s.path(key)
	data, err := os.ReadFile(p)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("persisted index unreadable", "path", p, "error", err)
		}
		return nil
	}
	f, err := objfile.LoadIndex(data, key)
	if err != nil {
		s.log.Info("persisted index refused, parsing the debug file again", "path", p, "error", err)
		os.Remove(p)
		return nil
	}
	now := time.Now()
	os.Chtimes(p, now, now) // recently used: evicted last
	s.loaded.Add(1)
	return f
}

// Waiting for a quiet moment before persisting an index: the service
// must have been idle for persistQuiet, checked every persistPoll, and
// the write waits no longer than persistDelay in all.
const (
	persistPoll  = 10 * time.Millisecond
	persistQuiet = 50 * time.Millisecond
	persistDelay = 5 * time.Second
)

// save persists f's index under key in the background, once idle (nil:
// at once) reports the service idle long enough, or persistDelay has
// passed, or the store is closing.
func (s *indexStore) save(key string, f *objfile.File, idle func() bool) {
	if s == nil {
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return
	}
	s.writes.Add(1)
	go func() {
		defer s.writes.Done()
		s.waitQuiet(idle)
		if err := s.write(key, f); err != nil {
			s.log.Warn("persisting an index failed", "error", err)
		}
	}()
}

// waitQuiet returns once idle has held for persistQuiet, after
// persistDelay, or when the store closes.
func (s *indexStore) waitQuiet(idle func() bool) {
	if idle == nil {
		return
	}
	deadline := time.NewTimer(persistDelay)
	defer deadline.Stop()
	tick := time.NewTicker(persistPoll)
	defer tick.Stop()
	var quiet time.Duration
	for quiet < persistQuiet {
		select {
		case <-s.closing:
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
		if idle() {
			quiet += persistPoll
		} else {
			quiet = 0
		}
	}
}

func (s *indexStore) write(key string, f *objfile.File) error {
	data, err := f.MarshalIndex(key)
	if err != nil {
		return err
	}
	if int64(len(data)) > s.max {
		return nil // larger than the whole store: not kept, as the LRU caches do
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.dir, "writing-*.tmp")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.path(key))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	s.evict()
	return nil
}

// evict removes the least recently used indexes until the store fits
// its bound.
func (s *indexStore) evict() {
	s.mu.Lock()
	defer s.mu.Unlock()
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	type file struct {
		path string
		size int64
		used time.Time
	}
	var files []file
	var total int64
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), indexExt) {
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		files = append(files, file{filepath.Join(s.dir, e.Name()), fi.Size(), fi.ModTime()})
		total += fi.Size()
	}
	slices.SortFunc(files, func(a, b file) int { return a.used.Compare(b.used) })
	for _, f := range files {
		if total <= s.max {
			break
		}
		if os.Remove(f.path) == nil {
			total -= f.size
		}
	}
}

// close waits for the indexes being written.
func (s *indexStore) close() {
	if s == nil {
		return
	}
	s.wmu.Lock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
	s.wmu.Unlock()
	s.writes.Wait()
}
