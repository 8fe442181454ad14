package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestChaosCommand serves the proxy in front of a loopback stand-in,
// sends requests through it and checks the report printed on interrupt.
func TestChaosCommand(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"status":"completed"}`)
	}))
	defer target.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stdout strings.Builder
	done := make(chan error, 1)
	go func() {
		done <- cmdChaos(ctx, []string{"--target", target.URL, "--listen", "127.0.0.1:0", "--mix", "server_error=1", "--seed", "3"}, &stdout, pw)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no start line: %v", err)
	}
	go io.Copy(io.Discard, pr)
	var started struct{ URL, Mix string }
	if err := json.Unmarshal([]byte(line), &started); err != nil || started.URL == "" {
		t.Fatalf("start line %q: %v", line, err)
	}
	if started.Mix != "server_error=1" {
		t.Errorf("mix logged as %q", started.Mix)
	}
	for range 3 {
		resp, err := http.Post(started.URL+"symbolicate", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("status %d, want the injected 500", resp.StatusCode)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the proxy did not stop on interrupt")
	}
	for _, want := range []string{"requests 3", "server_error", " 3"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("report %q lacks %q", stdout.String(), want)
		}
	}
}

func TestChaosCommandBadArgs(t *testing.T) {
	for _, tt := range []struct {
		args   []string
		errHas string
	}{
		{[]string{}, "usage"},
		{[]string{"--target", "http://127.0.0.1:1/", "--mix", "bogus=1"}, `unknown fault "bogus"`},
		{[]string{"--target", "http://127.0.0.1:1/", "--listen", "0.0.0.0:0"}, "only loopback"},
		{[]string{"load", "--mix", "lost=2"}, `probability "2"`},
	} {
		err := cmdChaos(context.Background(), tt.args, io.Discard, io.Discard)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), tt.errHas) {
			t.Errorf("%v: err %v, want exit 2 saying %q", tt.args, err, tt.errHas)
		}
	}
}

// TestChaosLoadCommand runs a small load through the command.
func TestChaosLoadCommand(t *testing.T) {
	var out strings.Builder
	if err := cmdChaos(context.Background(), []string{"load", "--executions", "20", "--mix", "lost=0.1,unavailable=0.1"}, &out, io.Discard); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	flat := strings.Join(strings.Fields(out.String()), " ")
	for _, want := range []string{"started 20", "lost 0 stuck 0"} {
		if !strings.Contains(flat, want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}
