package chaos_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/symflow/symflow/local/chaos"
)

// A proxy in front of a Symbolicator, with a scripted fault sequence: the
// first submission meets an unavailable service, the second a server
// error, the third gets through.
func ExampleListen() {
	symbolicator := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"status":"completed","stacktraces":[],"modules":[]}`)
	}))
	defer symbolicator.Close()

	srv, err := chaos.Listen(chaos.Config{
		Target: symbolicator.URL,
		Script: []chaos.Fault{chaos.Unavailable, chaos.ServerError},
	}, "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	for range 3 {
		resp, err := http.Post(srv.URL+"symbolicate", "application/json", strings.NewReader(`{}`))
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	srv.Report(os.Stdout)
	// Output:
	// 503
	// 500
	// 200
	// requests 3
	// unavailable     1
	// server_error    1
}
