package execution_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	localddb "github.com/symflow/symflow/local/dynamodb"
	"github.com/symflow/symflow/shared/blob"
	"github.com/symflow/symflow/shared/dynamo"
	"github.com/symflow/symflow/shared/execution"
	"github.com/symflow/symflow/shared/task"
)

func TestName(t *testing.T) {
	const evt = "0123456789abcdef0123456789abcdef"
	long := strings.Repeat("p", 64)
	seen := map[string]string{}
	for _, p := range []string{"42", "a-b", "a", long, long[:63] + "q", strings.Repeat("x", 47), strings.Repeat("x", 48)} {
		n := execution.Name(p, evt)
		if !execution.ValidName(n) || len(n) > 80 || !strings.HasSuffix(n, "_"+evt) {
			t.Errorf("Name(%q) = %q: not a valid execution name ending in the event id", p, n)
		}
		if other, dup := seen[n]; dup {
			t.Errorf("projects %q and %q share the name %q", p, other, n)
		}
		seen[n] = p
	}
	if got := execution.Name("42", evt); got != "42_"+evt {
		t.Errorf("Name = %q", got)
	}
}

// runner is an in-memory execution.Runner with Step Functions' name rules.
type runner struct {
	mu     sync.Mutex
	execs  map[string]json.RawMessage
	starts int
}

func (r *runner) Start(_ context.Context, name string, input json.RawMessage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts++
	if prev, ok := r.execs[name]; ok {
		if string(prev) == string(input) {
			return nil
		}
		return fmt.Errorf("start %s: %w", name, execution.ErrExists)
	}
	r.execs[name] = input
	return nil
}

func (r *runner) Describe(_ context.Context, name string) (execution.Execution, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	in, ok := r.execs[name]
	if !ok {
		return execution.Execution{}, execution.ErrNotFound
	}
	return execution.Execution{Name: name, Status: execution.StatusRunning, Input: in}, nil
}

type putter struct {
	mu   sync.Mutex
	objs map[string][]byte
}

func (p *putter) Put(_ context.Context, ref blob.Ref, data []byte, _ string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.objs[ref.String()] = data
	return nil
}

// store is the embedded DynamoDB-compatible store: claims are real
// conditional puts.
func store(t *testing.T) *dynamo.Store {
	t.Helper()
	url, stop, err := localddb.New().Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop() })
	db := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")})
	s, err := dynamo.New(db, dynamo.Config{ProjectsTable: "projects", TasksTable: "tasks"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTables(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func state(evt string, payload string) task.State {
	return task.State{ProjectID: "42", EventID: evt, Kind: task.KindPayload, Payload: json.RawMessage(payload)}
}

func TestStarterOneExecutionPerEvent(t *testing.T) {
	ctx := context.Background()
	r := &runner{execs: map[string]json.RawMessage{}}
	s := &execution.Starter{Runner: r, Claims: store(t), Blobs: &putter{objs: map[string][]byte{}}, PayloadBucket: "crashes"}
	const evt = "0123456789abcdef0123456789abcdef"
	var wg sync.WaitGroup
	results := make(chan execution.Started, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Different payloads for one event: still one execution.
			st, err := s.Start(ctx, state(evt, fmt.Sprintf(`{"stacktraces":[{"frames":[]}],"n":%d}`, i)))
			if err != nil {
				t.Error(err)
				return
			}
			results <- st
		}()
	}
	wg.Wait()
	close(results)
	created := 0
	for st := range results {
		if st.Name != "42_"+evt {
			t.Errorf("name %s", st.Name)
		}
		if st.Created {
			created++
		}
	}
	if created != 1 || len(r.execs) != 1 {
		t.Errorf("%d callers created, %d executions; want 1 and 1", created, len(r.execs))
	}
}

// TestStarterResumesAfterLostStart: a claim whose execution never started
// (the caller died between the two) is started by the next caller.
func TestStarterResumesAfterLostStart(t *testing.T) {
	ctx := context.Background()
	db := store(t)
	const evt = "00000000000000000000000000000001"
	if _, claimed, err := db.ClaimExecution(ctx, "42", evt, execution.Name("42", evt)); err != nil || !claimed {
		t.Fatal(claimed, err)
	}
	r := &runner{execs: map[string]json.RawMessage{}}
	s := &execution.Starter{Runner: r, Claims: db, Blobs: &putter{objs: map[string][]byte{}}}
	st, err := s.Start(ctx, state(evt, `{"stacktraces":[]}`))
	if err != nil || !st.Created || len(r.execs) != 1 {
		t.Errorf("start after a lost start: %+v %v (%d executions)", st, err, len(r.execs))
	}
}

func TestStarterOffloadsLargePayloads(t *testing.T) {
	ctx := context.Background()
	r := &runner{execs: map[string]json.RawMessage{}}
	p := &putter{objs: map[string][]byte{}}
	s := &execution.Starter{Runner: r, Claims: store(t), Blobs: p, PayloadBucket: "crashes", MaxInline: 1024}
	const evt = "00000000000000000000000000000002"
	big := `{"stacktraces":[],"pad":"` + strings.Repeat("x", 2000) + `"}`
	st, err := s.Start(ctx, state(evt, big))
	if err != nil {
		t.Fatal(err)
	}
	if st.Offloaded == nil || st.Offloaded.Bucket != "crashes" || !strings.HasPrefix(st.Offloaded.Key, "payloads/42/"+evt+"-") {
		t.Fatalf("offloaded %+v", st.Offloaded)
	}
	if string(p.objs[st.Offloaded.String()]) != big {
		t.Errorf("stored payload differs")
	}
	var in task.State
	json.Unmarshal(r.execs[st.Name], &in)
	if in.PayloadRef == nil || *in.PayloadRef != *st.Offloaded || len(in.Payload) != 0 || in.Validate() != nil {
		t.Errorf("execution input %s", r.execs[st.Name])
	}
	// Without a bucket, a large payload is an error, not a failed execution.
	s2 := &execution.Starter{Runner: r, Claims: store(t), Blobs: p, MaxInline: 1024}
	if _, err := s2.Start(ctx, state("00000000000000000000000000000003", big)); err == nil {
		t.Error("large payload without a payload bucket accepted")
	}
	// Invalid input never claims.
	if _, err := s.Start(ctx, task.State{ProjectID: "42", EventID: "nope", Kind: task.KindPayload}); err == nil {
		t.Error("invalid state accepted")
	}
}
