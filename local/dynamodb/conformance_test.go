package dynamodb_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/symflow/symflow/internal/dynamolocal"
	"github.com/symflow/symflow/internal/netns"
	localdynamodb "github.com/symflow/symflow/local/dynamodb"
)

// ddbLocal is the DynamoDB Local this test binary shares.
var ddbLocal dynamolocal.Shared

func TestMain(m *testing.M) {
	// DynamoDB Local runs in a network namespace, served by this binary
	// re-executed as the relay.
	netns.RelayMain()
	code := m.Run()
	ddbLocal.Stop()
	os.Exit(code)
}

// step is one request of testdata/conformance.json. Table names starting
// with "T_" are given a per-run prefix.
type step struct {
	Name string          `json:"name"`
	Op   string          `json:"op"`
	Body json.RawMessage `json:"body"`
	// Compare is "body" (the default: status, error type and body) or
	// "status" (status and error type only, for answers whose text
	// legitimately differs, such as table descriptions and error messages).
	Compare string `json:"compare"`
}

type answer struct {
	Status  int
	ErrType string
	Message string
	Body    map[string]any
}

var runSeq atomic.Int64

// TestConformance sends the same requests to DynamoDB Local and to the
// embedded server and requires the same answers: the embedded server is
// checked against the real implementation, not against this file's
// expectations.
func TestConformance(t *testing.T) {
	data, err := os.ReadFile("testdata/conformance.json")
	if err != nil {
		t.Fatal(err)
	}
	var steps []step
	if err := json.Unmarshal(data, &steps); err != nil {
		t.Fatalf("testdata/conformance.json: %v", err)
	}
	real := ddbLocal.Get(t)
	embeddedURL, stop, err := localdynamodb.New().Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	t.Logf("DynamoDB Local at %s, embedded at %s", real.Endpoint(), embeddedURL)

	prefix := fmt.Sprintf("conf%d_", runSeq.Add(1))
	for i, st := range steps {
		body := strings.ReplaceAll(string(st.Body), `"T_`, `"`+prefix)
		want := call(t, real.Endpoint(), st.Op, body)
		got := call(t, embeddedURL, st.Op, body)
		t.Run(fmt.Sprintf("%02d %s", i, st.Name), func(t *testing.T) {
			t.Logf("DynamoDB Local: %d %s %s", want.Status, want.ErrType, want.Message)
			if got.Status != want.Status || got.ErrType != want.ErrType {
				t.Fatalf("embedded answered %d %s (%s), DynamoDB Local %d %s (%s)",
					got.Status, got.ErrType, got.Message, want.Status, want.ErrType, want.Message)
			}
			if want.ErrType != "" && got.Message == "" {
				t.Errorf("embedded error %s has no message", got.ErrType)
			}
			if st.Compare == "status" {
				return
			}
			g, w := normalize(got.Body), normalize(want.Body)
			if !reflect.DeepEqual(g, w) {
				gj, _ := json.MarshalIndent(g, "", " ")
				wj, _ := json.MarshalIndent(w, "", " ")
				t.Errorf("embedded body\n%s\nDynamoDB Local body\n%s", gj, wj)
			}
		})
	}
}

// call sends one signed JSON 1.0 request and decodes the answer.
func call(t *testing.T, endpoint, op, body string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: "symflowlocal", SecretAccessKey: "symflowlocal"}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "dynamodb", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", op, endpoint, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{Status: resp.StatusCode}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&a.Body); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %q", op, endpoint, raw)
	}
	if typ, ok := a.Body["__type"].(string); ok {
		a.ErrType = typ[strings.LastIndex(typ, "#")+1:]
		a.Message, _ = a.Body["message"].(string)
		if a.Message == "" {
			a.Message, _ = a.Body["Message"].(string)
		}
		delete(a.Body, "__type")
		delete(a.Body, "message")
		delete(a.Body, "Message")
	}
	return a
}

// normalize removes what legitimately differs between servers and orders
// set elements.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if k == "ConsumedCapacity" {
				continue
			}
			if (k == "SS" || k == "NS" || k == "BS") && len(x) == 1 {
				out[k] = sortedStrings(e)
				continue
			}
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

func sortedStrings(v any) any {
	l, ok := v.([]any)
	if !ok {
		return v
	}
	ss := make([]string, 0, len(l))
	for _, e := range l {
		s, _ := e.(string)
		ss = append(ss, s)
	}
	for i := range ss {
		for j := i + 1; j < len(ss); j++ {
			if ss[j] < ss[i] {
				ss[i], ss[j] = ss[j], ss[i]
			}
		}
	}
	return ss
}
