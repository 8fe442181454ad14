package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/symflow/symflow/local/httpserver"
	"github.com/symflow/symflow/local/serve"
	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/project"
)

// cmdServe serves the API on a loopback address backed by the local stack
// and, with --crash-dir, watches a folder as the crash bucket.
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf stackFlags
	sf.register(fs)
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve the API on")
	crashDir := fs.String("crash-dir", "", "folder watched as the crash bucket: put crashes/<project_id>/<event_id>.dmp|.crash there")
	grace := fs.Duration("grace", 30*time.Second, "on SIGTERM or SIGINT, how long the states in flight may finish; executions not finished stay RUNNING and resume at the next start")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return &exitError{2, errors.New("usage: symflow serve --listen 127.0.0.1:PORT [--crash-dir DIR] [--project-config CONFIG.json] [--debug-file PATH]")}
	}
	if *crashDir != "" {
		if err := os.MkdirAll(*crashDir, 0o755); err != nil {
			return fmt.Errorf("crash folder: %w", err)
		}
	}
	st, cleanup, err := sf.start(ctx, stack.Options{})
	if err != nil {
		return err
	}
	defer cleanup()
	logOut := io.Writer(stderr)
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelInfo}))
	svc := serve.New(st, serve.Options{CrashDir: *crashDir, Log: log})
	defer svc.Close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	srv := httpserver.New(svc.Handler, httpserver.Timeouts{})
	fmt.Fprintf(stdout, "symflow API on http://%s (console at /; state in %s, Symbolicator %s)\n", ln.Addr(), sf.stateDir, project.RedactURLs(st.SymbolicatorURL))
	if *crashDir != "" {
		fmt.Fprintf(stdout, "watching %s as the crash bucket: crashes/<project_id>/<event_id>.dmp|.crash\n", *crashDir)
		go svc.Watcher.Run(ctx)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	// Stop taking requests first, so nothing new is accepted while the
	// executions wind down; then give the states in flight the rest of the
	// grace period.
	deadline := time.Now().Add(*grace)
	shutdown, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	err = srv.Shutdown(shutdown)
	left := svc.Shutdown(time.Until(deadline))
	fmt.Fprintf(stdout, "stopped; %d executions left RUNNING in %s resume when symflow serve or run starts again on it\n", left, sf.stateDir)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil // requests still open at the deadline were cut
	}
	return err
}
