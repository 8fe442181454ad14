package httpserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// generous bounds every wait in these tests: long enough for a starved
// machine, and never the thing measured.
const generous = 60 * time.Second

// serve runs New(h, t) on a loopback port until the test ends.
func serve(t *testing.T, h http.Handler, to Timeouts) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(h, to)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// closedByServer reads c until the server closes it and returns what the
// server sent; it reports an error if the connection is still open after
// the generous deadline. It may run on any goroutine.
func closedByServer(t *testing.T, c net.Conn) string {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(generous)); err != nil {
		t.Error(err)
		return ""
	}
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("connection still open after %s; read %q", generous, b)
	}
	// Any other error is a reset: the server closing with unread input.
	return string(b)
}

// TestStalledBodiesAreClosed: 20 connections that send part of a body and
// stop are all closed by the server once the body timeout passes, whether
// the handler reads the body or never looks at it.
func TestStalledBodiesAreClosed(t *testing.T) {
	var mu sync.Mutex
	var readErrs []error
	mux := http.NewServeMux()
	mux.HandleFunc("POST /read", func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		mu.Lock()
		readErrs = append(readErrs, err)
		mu.Unlock()
		if err != nil {
			http.Error(w, "body: "+err.Error(), http.StatusRequestTimeout)
			return
		}
		fmt.Fprint(w, "read all")
	})
	mux.HandleFunc("POST /ignore", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ignored the body")
	})
	addr := serve(t, mux, Timeouts{Body: 200 * time.Millisecond})

	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		path := "/read"
		if i%4 == 3 {
			path = "/ignore"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			// Announce 1 MiB (above what the server discards after an
			// ignoring handler), send 10 bytes, then nothing.
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n0123456789", path, 1<<20)
			got := closedByServer(t, c)
			if path == "/ignore" && !strings.Contains(got, "ignored the body") {
				t.Errorf("%s: answer %q, want the handler's", path, got)
			}
		}()
	}
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if want := n - n/4; len(readErrs) != want {
		t.Fatalf("%d reading handlers ran, want %d", len(readErrs), want)
	}
	for _, err := range readErrs {
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("handler's read of a stalled body ended with %v, want a deadline error", err)
		}
	}
}

// TestStalledHeadersAreClosed: a client that stops in the middle of its
// headers is closed after the header timeout.
func TestStalledHeadersAreClosed(t *testing.T) {
	addr := serve(t, http.NotFoundHandler(), Timeouts{ReadHeader: 200 * time.Millisecond})
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			fmt.Fprint(c, "POST /x HTTP/1.1\r\nHost: x\r\nX-Slow: ")
			closedByServer(t, c)
		}()
	}
	wg.Wait()
}

// TestSlowSteadyUploadSucceeds: an upload that takes several body timeouts
// in all but never pauses that long is read whole.
func TestSlowSteadyUploadSucceeds(t *testing.T) {
	const bodyTimeout = 3 * time.Second
	const chunks, gap = 20, 200 * time.Millisecond // 4 s in all, gaps 15 times shorter than the timeout
	got := make(chan []byte, 1)
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestTimeout)
			return
		}
		got <- b
		fmt.Fprintf(w, "%d bytes", len(b))
	}), Timeouts{Body: bodyTimeout})

	chunk := bytes.Repeat([]byte("x"), 1024)
	pr, pw := io.Pipe()
	go func() {
		for i := range chunks {
			if i > 0 {
				time.Sleep(gap)
			}
			if _, err := pw.Write(chunk); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), generous)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = chunks * int64(len(chunk))
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, answer)
	}
	if b := <-got; len(b) != chunks*len(chunk) {
		t.Fatalf("server read %d bytes, want %d", len(b), chunks*len(chunk))
	}
	// The point of the test, not a timing assertion: had the upload fit in
	// one body timeout, it would not show that progress extends it.
	if elapsed := time.Since(start); elapsed < bodyTimeout {
		t.Fatalf("upload took %s, less than the body timeout %s: the test shows nothing", elapsed, bodyTimeout)
	}
}

// TestLongPollIsNotCut: a handler that waits longer than every progress
// timeout before answering (a long poll), after reading its whole body,
// keeps its context and its client.
func TestLongPollIsNotCut(t *testing.T) {
	const short = 100 * time.Millisecond
	ctxErr := make(chan error, 1)
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case <-r.Context().Done():
		case <-time.After(10 * short):
		}
		ctxErr <- r.Context().Err()
		fmt.Fprint(w, "done")
	}), Timeouts{Body: short, Write: short})

	for _, body := range []string{"", `{"poll":true}`} {
		resp, err := http.Post("http://"+addr+"/", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(b) != "done" {
			t.Errorf("body %q: status %d %q", body, resp.StatusCode, b)
		}
		if err := <-ctxErr; err != nil {
			t.Errorf("body %q: the request's context ended while the handler waited: %v", body, err)
		}
	}
}

// TestClientThatStopsReadingIsCut: a response the client takes nothing of
// ends with a write error once the write timeout passes.
func TestClientThatStopsReadingIsCut(t *testing.T) {
	writeErr := make(chan error, 1)
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("y"), 64<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				writeErr <- err
				return
			}
		}
	}), Timeouts{Write: 200 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case err := <-writeErr:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("write ended with %v, want a deadline error", err)
		}
	case <-time.After(generous):
		t.Fatalf("the handler still writes to a client that reads nothing after %s", generous)
	}
}

// TestWriterPassesThrough: Flush and Hijack reach the server's writer
// through the progress writer.
func TestWriterPassesThrough(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hijack" {
			c, rw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			defer c.Close()
			rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
			rw.Flush()
			return
		}
		fmt.Fprint(w, "part one;")
		w.(http.Flusher).Flush()
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("ResponseController.Flush: %v", err)
		}
		fmt.Fprint(w, "part two")
	}), Timeouts{})
	for path, want := range map[string]string{"/flush": "part one;part two", "/hijack": "hijacked"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want {
			t.Errorf("%s: %q, want %q", path, b, want)
		}
	}
}

func TestTimeoutsDefaults(t *testing.T) {
	srv := New(http.NotFoundHandler(), Timeouts{Idle: -1})
	if srv.ReadHeaderTimeout != DefaultReadHeaderTimeout || srv.IdleTimeout != 0 {
		t.Errorf("ReadHeaderTimeout %s, IdleTimeout %s; want %s and none", srv.ReadHeaderTimeout, srv.IdleTimeout, DefaultReadHeaderTimeout)
	}
	if srv.ReadTimeout != 0 || srv.WriteTimeout != 0 {
		t.Errorf("ReadTimeout %s, WriteTimeout %s: whole-request bounds would cut slow uploads and long polls", srv.ReadTimeout, srv.WriteTimeout)
	}
	h := srv.Handler.(*handler)
	if h.t.Body != DefaultBodyTimeout || h.t.Write != DefaultWriteTimeout {
		t.Errorf("body %s, write %s; want the defaults", h.t.Body, h.t.Write)
	}
}
