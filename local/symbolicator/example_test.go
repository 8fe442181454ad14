package symbolicator_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/symflow/symflow/local/symbolicator"
)

// The service is an http.Handler: mount it on any server. Local mode lets
// sources on loopback (a local debuginfod, moto, a file server) be reached.
func Example() {
	svc := symbolicator.New(symbolicator.Config{
		AllowLoopback: true,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	defer svc.Close()
	srv := httptest.NewServer(svc)
	defer srv.Close()

	body := `{"stacktraces":[{"frames":[{"instruction_addr":"0x10"}]}],"modules":[],"sources":[]}`
	resp, err := http.Post(srv.URL+"/symbolicate?timeout=5&scope=42", "application/json", strings.NewReader(body))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(out))
	// Output:
	// 200 {"modules":[],"stacktraces":[{"frames":[{"instruction_addr":"0x10","original_index":0,"status":"unknown_image"}]}],"status":"completed"}
}
