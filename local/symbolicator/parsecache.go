package symbolicator

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"hash/maphash"
	"strconv"
	"sync"
	"time"

	"github.com/symflow/symflow/local/symbolicator/breakpad"
	"github.com/symflow/symflow/local/symbolicator/objfile"
	"github.com/symflow/symflow/shared/debugfile"
)

// Opening debug files: the index cache and its negative entries.
//
// A parsed debug file is kept in the index cache (Service.index), bounded
// by bytes. So is a file that failed to parse: the error is remembered
// for Config.RetryMalformedAfter, keyed by the file's content, and the same
// bytes are then refused at once, from any source, without being parsed
// (or even identified) again, and the module is answered
// "malformed" as before. Without this a hostile file, a decompression
// bomb above all, cost its parse on every request that named it.
//
// Memory. What one parse may decompress is bounded by the decompression
// bound (debugfile.InflateLimits, by default the smaller of 2 GiB and 100
// times the file's size), checked from the section headers before
// anything is inflated: a bomb whose sections claim more is refused for
// the cost of reading its headers, and one that lies about its sizes is
// cut off one byte past its claim. What all parses hold at once is
// bounded by decompressionBudget (2 GiB): a parse waits until its claims
// fit. The service's memory is therefore at most its caches (CacheBytes
// of downloads and IndexCacheBytes of parsed files, 512 MiB each by
// default, the latter counted by file size), the files being parsed and
// their indexes, and 2 GiB of decompressed sections; the Go collector
// lets garbage grow to as much again as what is live (GOGC=100) before it
// reclaims it. TestBombStream measures it through the HTTP API: 216 bomb
// files (252 MiB, claiming 223 GiB decompressed) of nine kinds took the
// peak RSS from 16 MiB to 160-260 MiB sent one per request (the
// collector's timing varies it), to 520-560 MiB when 54 of them, four
// inflating to their full bound of 126 MiB, were loaded concurrently by
// one request, and to at most 700 MiB while the garbage of that request
// was still being collected; the service stayed up.

// defaultRetryMalformedAfter is how long a file that failed to parse is refused
// without being parsed again: the default of Symbolicator's
// retry_malformed_after for its caches. Like Symbolicator, which expires
// malformed entries written before it started, a restart forgets them.
const defaultRetryMalformedAfter = 24 * time.Hour

// failureCost is what a remembered failure counts against the index
// cache beyond its key and message: the entry, the list element and the
// map slot.
const failureCost = 256

// indexedFile is an entry of the index cache: a parsed debug file, or the
// error parsing one gave.
type indexedFile struct {
	file *objfile.File
	syms *breakpad.File
	// other is a file parsed by another reader (a PE image, a PDB).
	other any
	// err is why the file did not parse, at failed; sum is failureSum
	// of its bytes.
	err    error
	failed time.Time
	sum    uint64
}

// RememberedError is a parse failure answered from the index cache: the
// same bytes failed to parse at Since and were not parsed again.
type RememberedError struct {
	Err   error
	Since time.Time
}

func (e *RememberedError) Error() string {
	return fmt.Sprintf("%v (remembered since %s)", e.Err, e.Since.UTC().Format(time.RFC3339))
}

func (e *RememberedError) Unwrap() error { return e.Err }

// castagnoli is CRC-32C, which the CPU computes (tens of GB/s): it names
// a persisted index by every byte of its debug file.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// failureSeed keys the hashes of remembered failures. It is drawn per
// process, so that nobody can craft a file whose hash collides with
// another's and have a good file refused as the bad one.
var failureSeed = maphash.MakeSeed()

// failureKey names a remembered failure in the index cache by the reader
// (kind) and the content digest, which every open computes anyway. The
// digest samples the file; the entry also holds a keyed hash of every
// byte (failureSum), checked on a hit only, so that a good file sharing a
// bad one's digest is still parsed.
func failureKey(kind, digest string) string { return "failed/" + kind + "/" + digest }

// failureSum hashes all of data (about 8 GB/s).
func failureSum(data []byte) uint64 { return maphash.Bytes(failureSeed, data) }

// rememberedFailure returns the remembered error for data under key, or
// nil when there is none, it is for other bytes, or it is older than
// Config.RetryMalformedAfter.
func (s *Service) rememberedFailure(key string, data []byte) error {
	v, ok := s.index.get(key)
	if !ok || v.err == nil || s.cfg.Now().Sub(v.failed) >= s.cfg.RetryMalformedAfter || v.sum != failureSum(data) {
		return nil
	}
	return &RememberedError{Err: v.err, Since: v.failed}
}

// rememberFailure keeps err as the answer for data under key for
// Config.RetryMalformedAfter. The entry is counted against the index cache by
// its real size, so that failures are bounded with the parsed files they
// share the cache with.
func (s *Service) rememberFailure(key string, data []byte, err error) {
	s.index.add(key, indexedFile{err: err, failed: s.cfg.Now(), sum: failureSum(data)}, int64(len(key)+len(err.Error())+failureCost))
}

// inflateLimits is the service's decompression bound (Config's
// MaxInflatedBytes and InflateRatio): by default debugfile's, the bound the
// debug-file upload API applies too, so that a file the API stored opens
// here.
func (s *Service) inflateLimits() debugfile.InflateLimits { return s.cfg.inflateLimits() }

func (c *Config) inflateLimits() debugfile.InflateLimits {
	return debugfile.InflateLimits{MaxBytes: c.MaxInflatedBytes, Ratio: c.InflateRatio}
}

// decompressionBudget is held by every parse for its decompressed
// sections (the sum of their claims) while it inflates and indexes them,
// so that all the parses running at once hold at most this much, however
// many modules and requests there are. It is shared by the process's
// Services because what it protects, memory, is the process's. Its size
// is the cap on one file: the largest file allowed still opens (alone).
var decompressionBudget objfile.Budget = newBudget(debugfile.DefaultMaxInflatedBytes)

// budget is a FIFO weighted semaphore of bytes: a large reservation is not
// starved by small ones arriving after it.
type budget struct {
	mu      sync.Mutex
	size    int64
	used    int64
	waiters list.List // of *budgetWaiter, in arrival order
}

type budgetWaiter struct {
	n     int64
	ready chan struct{}
}

func newBudget(size int64) *budget { return &budget{size: size} }

// Reserve implements objfile.Budget.
func (b *budget) Reserve(n int64) (release func()) {
	n = min(max(n, 0), b.size)
	b.mu.Lock()
	if b.waiters.Len() == 0 && b.used+n <= b.size {
		b.used += n
		b.mu.Unlock()
	} else {
		w := &budgetWaiter{n: n, ready: make(chan struct{})}
		b.waiters.PushBack(w)
		b.mu.Unlock()
		<-w.ready
	}
	return sync.OnceFunc(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.used -= n
		for e := b.waiters.Front(); e != nil; e = b.waiters.Front() {
			w := e.Value.(*budgetWaiter)
			if b.used+w.n > b.size {
				break
			}
			b.used += w.n
			b.waiters.Remove(e)
			close(w.ready)
		}
	})
}

// openIndexed parses data with objfile, reusing an earlier parse of the
// same bytes. The cache is keyed by the file's identity (kind, code id,
// debug id, file type) and a digest of its content, and bounded by bytes.
// Bytes that failed to parse before are refused with a *RememberedError.
func (s *Service) openIndexed(data []byte) (*objfile.File, error) {
	digest := contentDigest(data)
	fkey := failureKey("object", digest)
	if err := s.rememberedFailure(fkey, data); err != nil {
		return nil, err
	}
	opts := objfile.Options{Inflate: s.inflateLimits(), Budget: decompressionBudget}
	ident, err := safeIdentify(data, opts)
	if err != nil {
		s.rememberFailure(fkey, data, err)
		return nil, err
	}
	key := ident.Kind + "/" + ident.CodeID + "/" + ident.DebugID + "/" + ident.FileType + "/" + digest
	if v, ok := s.index.get(key); ok && v.file != nil {
		return v.file, nil
	}
	// Concurrent requests for one file share a single parse.
	s.parseMu.Lock()
	if p, ok := s.parses[key]; ok {
		s.parseMu.Unlock()
		<-p.done
		return p.file, p.err
	}
	p := &parse{done: make(chan struct{})}
	s.parses[key] = p
	s.parseMu.Unlock()

	// A persisted index (written by this service or an earlier one on the
	// same cache directory) spares the parse; its name covers every byte
	// of the file (the digest above samples it), since it outlives the
	// process.
	pkey := key + "/" + strconv.FormatUint(uint64(crc32.Checksum(data, castagnoli)), 16)
	if f := s.store.load(pkey); f != nil {
		p.file = f
	} else if p.file, p.err = safeOpen(data, opts); p.err == nil {
		s.store.save(pkey, p.file, s.idle)
	}
	if p.err == nil {
		s.index.add(key, indexedFile{file: p.file}, int64(len(data)))
	} else {
		s.rememberFailure(fkey, data, p.err)
	}
	s.parseMu.Lock()
	delete(s.parses, key)
	s.parseMu.Unlock()
	close(p.done)
	return p.file, p.err
}

// idle reports whether no request is running (its answer may still be
// being written).
func (s *Service) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running == 0
}

// parse is a debug file being opened.
type parse struct {
	done chan struct{}
	file *objfile.File
	err  error
}

// openBreakpad parses a .sym file, reusing an earlier parse of the same
// bytes from the index cache (keyed by a digest of the content). Bytes
// that failed to parse before are refused with a *RememberedError.
func (s *Service) openBreakpad(data []byte) (*breakpad.File, error) {
	digest := contentDigest(data)
	fkey := failureKey("breakpad", digest)
	if err := s.rememberedFailure(fkey, data); err != nil {
		return nil, err
	}
	key := "breakpad/" + digest
	if v, ok := s.index.get(key); ok && v.syms != nil {
		return v.syms, nil
	}
	f, err := safeBreakpad(data)
	if err == nil {
		s.index.add(key, indexedFile{syms: f}, int64(len(data)))
	} else {
		s.rememberFailure(fkey, data, err)
	}
	return f, err
}

func safeBreakpad(data []byte) (f *breakpad.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("the Breakpad reader failed: %v", r)
		}
	}()
	return breakpad.Parse(data)
}

func safeOpen(data []byte, opts objfile.Options) (f *objfile.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("debug file reader failed: %v", r)
		}
	}()
	return objfile.OpenWith(data, opts)
}

func safeIdentify(data []byte, opts objfile.Options) (id objfile.Identity, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("debug file reader failed: %v", r)
		}
	}()
	return objfile.IdentifyWith(data, opts)
}

// contentDigest tells apart files that share an identity (a stripped
// executable and an unstripped one, say) without hashing whole debug files
// on every request: their length and their first and last 64 KiB.
func contentDigest(data []byte) string {
	const span = 64 << 10
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00", len(data))
	if len(data) <= 2*span {
		h.Write(data)
	} else {
		h.Write(data[:span])
		h.Write(data[len(data)-span:])
	}
	return hex.EncodeToString(h.Sum(nil))
}
