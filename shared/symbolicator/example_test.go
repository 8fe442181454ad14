package symbolicator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"

	"github.com/symflow/symflow/shared/metrics"
	"github.com/symflow/symflow/shared/symbolicator"
)

// symbolicatorStandIn answers the first poll with pending and the second
// with the completed result, as a Symbolicator that needs a while does.
func symbolicatorStandIn() *httptest.Server {
	var polls atomic.Int32
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch {
		case r.Method == http.MethodPost:
			fmt.Fprint(w, `{"status":"pending","request_id":"7f0c","retry_after":1}`)
		case polls.Add(1) == 1:
			fmt.Fprint(w, `{"status":"pending","request_id":"7f0c","retry_after":1}`)
		default:
			fmt.Fprint(w, `{"status":"completed","stacktraces":[{"frames":[{"status":"symbolicated","function":"main"}]}],"modules":[]}`)
		}
	}))
}

// A create/poll loop written out: submit once, then poll while pending.
// The workflow does the same across states, waiting RetryAfter seconds
// between polls, resubmitting on ErrTaskNotFound and, after a new worker id
// and a backoff, on ErrServiceUnavailable.
func Example_createPollLoop() {
	srv := symbolicatorStandIn()
	defer srv.Close()

	workers := symbolicator.NewWorkerID(0, nil) // one per process
	sess := symbolicator.NewSession(symbolicator.Config{
		BaseURL:   srv.URL + "/",
		ProjectID: "42",
		EventID:   "0123456789abcdef0123456789abcdef",
	}, srv.Client(), workers, nil, metrics.Discard)

	ctx := context.Background()
	resp, err := sess.Symbolicate(ctx, symbolicator.SymbolicateRequest{
		Platform:    "native",
		Stacktraces: json.RawMessage(`[{"frames":[{"instruction_addr":"0x1000"}]}]`),
		Modules:     json.RawMessage(`[]`),
	})
	for err == nil && resp.Status == symbolicator.StatusPending {
		fmt.Println("pending, poll", resp.RequestID)
		resp, err = sess.Query(ctx, resp.RequestID)
	}
	switch {
	case errors.Is(err, symbolicator.ErrTaskNotFound):
		fmt.Println("lost: resubmit")
	case err != nil:
		fmt.Println("error:", err)
	default:
		fmt.Println(resp.Status)
	}
	// Output:
	// pending, poll 7f0c
	// pending, poll 7f0c
	// completed
}
