package bench

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/symflow/symflow/local/symbolicator"
)

// RunChild serves the embedded Symbolicator and exits when this process
// was started as the service section's child (the environment says so);
// otherwise it returns at once. Call it first thing in main (and in a
// test binary's TestMain).
//
// The child listens on a loopback port, prints "listening ADDR" on
// stdout, and stops when its stdin closes, closing the service (which
// finishes writing its cache) before it exits.
func RunChild() {
	cacheDir, ok := os.LookupEnv(childEnv)
	if !ok {
		return
	}
	if err := serveChild(cacheDir); err != nil {
		fmt.Fprintln(os.Stderr, "symflow-bench symbolicator:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func serveChild(cacheDir string) error {
	if p := os.Getenv(childCPUProfile); p != "" {
		f, err := os.Create(fmt.Sprintf("%s.%d", p, os.Getpid()))
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	svc := symbolicator.New(childConfig(cacheDir))
	srv := &http.Server{Handler: svc, ReadHeaderTimeout: 30 * time.Second}
	go srv.Serve(ln)
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "listening %s\n", ln.Addr())
	out.Flush()
	io.Copy(io.Discard, os.Stdin)
	srv.Close()
	svc.Close()
	if p := os.Getenv(childMemProfile); p != "" {
		f, err := os.Create(fmt.Sprintf("%s.%d", p, os.Getpid()))
		if err != nil {
			return err
		}
		runtime.GC()
		defer f.Close()
		return pprof.Lookup("allocs").WriteTo(f, 0)
	}
	return nil
}

// childConfig is the service's configuration in the child: sources on
// loopback allowed, as `symflow symbolicator serve` runs it.
func childConfig(cacheDir string) symbolicator.Config {
	return symbolicator.Config{Logger: slog.New(slog.DiscardHandler), AllowLoopback: true, CacheDir: cacheDir}
}
