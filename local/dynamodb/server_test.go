package dynamodb_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/symflow/symflow/internal/dynamolocal"
	localdynamodb "github.com/symflow/symflow/local/dynamodb"
)

// start serves s on loopback for the test and returns an SDK client for it.
func start(t *testing.T, s *localdynamodb.Server) (*dynamodb.Client, string) {
	t.Helper()
	url, stop, err := s.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop() })
	return dynamolocal.NewClient(url), url
}

func createTable(t *testing.T, db *dynamodb.Client, name string) {
	t.Helper()
	_, err := db.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

// TestConditionalCheckFailedShape checks the SDK decodes the embedded
// server's condition failure as DynamoDB's typed exception, old item included.
func TestConditionalCheckFailedShape(t *testing.T) {
	db, _ := start(t, localdynamodb.New())
	createTable(t, db, "items")
	ctx := context.Background()
	item := map[string]types.AttributeValue{"pk": s("a"), "v": n("1")}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("items"), Item: item}); err != nil {
		t.Fatal(err)
	}
	_, err := db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String("items"),
		Item:                                map[string]types.AttributeValue{"pk": s("a"), "v": n("2")},
		ConditionExpression:                 aws.String("attribute_not_exists(pk)"),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("err = %v (%T), want *types.ConditionalCheckFailedException", err, err)
	}
	if got, ok := ccf.Item["v"].(*types.AttributeValueMemberN); !ok || got.Value != "1" {
		t.Errorf("exception item v = %#v, want the old N 1", ccf.Item["v"])
	}
	if ccf.ErrorMessage() != "The conditional request failed" {
		t.Errorf("message = %q", ccf.ErrorMessage())
	}
}

func TestHTTPErrors(t *testing.T) {
	srv := httptest.NewServer(localdynamodb.New().Handler())
	defer srv.Close()
	cases := []struct {
		name       string
		method     string
		target     string
		body       string
		wantStatus int
		wantType   string
		wantMsg    string
	}{
		{"health", http.MethodGet, "", "", 200, "", "healthy"},
		{"unknown operation", http.MethodPost, "DynamoDB_20120810.TransactWriteItems", "{}", 400, "UnknownOperationException", "TransactWriteItems"},
		{"missing target", http.MethodPost, "", "{}", 400, "UnknownOperationException", "unknown or unsupported operation"},
		{"body not JSON", http.MethodPost, "DynamoDB_20120810.GetItem", "{", 400, "SerializationException", "not valid JSON"},
		{"wrong field type", http.MethodPost, "DynamoDB_20120810.GetItem", `{"TableName": 5}`, 400, "SerializationException", "TableName"},
		{"missing table name", http.MethodPost, "DynamoDB_20120810.DescribeTable", `{}`, 400, "ValidationException", "tableName"},
		{"missing table", http.MethodPost, "DynamoDB_20120810.Query", `{"TableName":"xyz"}`, 400, "ResourceNotFoundException", "xyz not found"},
		{"body too large", http.MethodPost, "DynamoDB_20120810.PutItem", strings.Repeat(" ", localdynamodb.MaxRequestBytes+1), 413, "ValidationException", "16 MB"},
		{"method", http.MethodPut, "DynamoDB_20120810.GetItem", "{}", 405, "UnknownOperationException", "PUT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+"/", strings.NewReader(tc.body))
			if tc.target != "" {
				req.Header.Set("X-Amz-Target", tc.target)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status = %d, want %d (%s)", resp.StatusCode, tc.wantStatus, raw)
			}
			if tc.wantType == "" {
				if !strings.Contains(string(raw), tc.wantMsg) {
					t.Errorf("body %q does not say %q", raw, tc.wantMsg)
				}
				return
			}
			var body struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("error body %q is not JSON", raw)
			}
			if body.Type != "com.amazonaws.dynamodb.v20120810#"+tc.wantType {
				t.Errorf("__type = %q, want %s", body.Type, tc.wantType)
			}
			if !strings.Contains(body.Message, tc.wantMsg) {
				t.Errorf("message %q does not say %q", body.Message, tc.wantMsg)
			}
			if resp.Header.Get("X-Amz-Crc32") == "" || resp.Header.Get("x-amzn-RequestId") == "" {
				t.Errorf("missing X-Amz-Crc32 or x-amzn-RequestId header: %v", resp.Header)
			}
		})
	}
}

// TestLegacyParametersRejected checks a request using a legacy parameter is
// told so, rather than silently ignored.
func TestLegacyParametersRejected(t *testing.T) {
	db, _ := start(t, localdynamodb.New())
	createTable(t, db, "items")
	_, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName: aws.String("items"),
		Item:      map[string]types.AttributeValue{"pk": s("a")},
		Expected:  map[string]types.ExpectedAttributeValue{"pk": {Exists: aws.Bool(false)}},
	})
	if err == nil || !strings.Contains(err.Error(), "legacy parameter Expected") {
		t.Fatalf("err = %v, want it to name the legacy parameter Expected", err)
	}
}

func TestStartOnlyOnLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "example.com:0", "no-port"} {
		t.Run(addr, func(t *testing.T) {
			_, stop, err := localdynamodb.New().Start(addr)
			if err == nil {
				_ = stop()
				t.Fatalf("Start(%q) succeeded, want a refusal", addr)
			}
			if !strings.Contains(err.Error(), addr) {
				t.Errorf("error %q does not name the address", err)
			}
		})
	}
	url, stop, err := localdynamodb.New().Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Errorf("url = %s, want http://127.0.0.1:PORT", url)
	}
}

// TestDataFilePersists writes through one server and reads through a new
// one opened on the same file.
func TestDataFilePersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dynamodb.json")
	first, err := localdynamodb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	db, _ := start(t, first)
	createTable(t, db, "items")
	ctx := context.Background()
	_, err = db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String("items"),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("expires_at"), Enabled: aws.Bool(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, pk := range []string{"a", "b"} {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("items"),
			Item: map[string]types.AttributeValue{"pk": s(pk), "m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"x": n("1.50")}}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("items"), Key: map[string]types.AttributeValue{"pk": s("b")}}); err != nil {
		t.Fatal(err)
	}

	// The file holds secrets: only its owner may read it.
	if fi, err := os.Stat(path); err != nil {
		t.Fatal(err)
	} else if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("data file mode = %v, want 0600", mode)
	}

	second, err := localdynamodb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	db2, _ := start(t, second)
	out, err := db2.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("items")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 1 {
		t.Fatalf("reopened table has %d items, want 1", len(out.Items))
	}
	m, _ := out.Items[0]["m"].(*types.AttributeValueMemberM)
	// Numbers are stored normalized, as DynamoDB does.
	if m == nil || m.Value["x"].(*types.AttributeValueMemberN).Value != "1.5" {
		t.Errorf("reopened item = %#v", out.Items[0])
	}
	ttl, err := db2.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String("items")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(ttl.TimeToLiveDescription.AttributeName) != "expires_at" {
		t.Errorf("reopened TTL = %+v, want expires_at", ttl.TimeToLiveDescription)
	}
}

func TestOpenBadDataFile(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"not json":         "{",
		"item without key": `{"tables":[{"name":"tbl","hash_key":{"name":"pk","type":"S"},"items":[{"x":{"S":"1"}}]}]}`,
		"bad number":       `{"tables":[{"name":"tbl","hash_key":{"name":"pk","type":"S"},"items":[{"pk":{"S":"1"},"n":{"N":"abc"}}]}]}`,
		"bad key type":     `{"tables":[{"name":"tbl","hash_key":{"name":"pk","type":"X"},"items":[]}]}`,
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := localdynamodb.Open(path)
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want an error naming %s", err, path)
			}
		})
	}
}

// TestTTLExpiry checks items whose TTL passed are deleted, and others kept.
func TestTTLExpiry(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	srv := localdynamodb.New()
	srv.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	db, _ := start(t, srv)
	createTable(t, db, "tasks")
	ctx := context.Background()
	_, err := db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String("tasks"),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("expires_at"), Enabled: aws.Bool(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	put := func(pk string, exp types.AttributeValue) {
		item := map[string]types.AttributeValue{"pk": s(pk)}
		if exp != nil {
			item["expires_at"] = exp
		}
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("tasks"), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	put("soon", n("1893456060"))  // 2030-01-01T00:01:00Z
	put("later", n("1893459600")) // 2030-01-01T01:00:00Z
	put("never", nil)             // no TTL attribute
	put("ancient", n("1000"))     // more than five years old: not a timestamp, kept
	put("text", s("1893456060"))  // not a number: kept
	mu.Lock()
	now = now.Add(10 * time.Minute)
	mu.Unlock()
	out, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("tasks")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range out.Items {
		got = append(got, it["pk"].(*types.AttributeValueMemberS).Value)
	}
	want := map[string]bool{"later": true, "never": true, "ancient": true, "text": true}
	if len(got) != len(want) {
		t.Fatalf("items after expiry = %v, want %v", got, want)
	}
	for _, pk := range got {
		if !want[pk] {
			t.Errorf("item %s kept, want it expired", pk)
		}
	}
}

// FuzzHandler sends arbitrary bodies to every operation: the server must
// answer (never panic) with a 200 or a DynamoDB error.
func FuzzHandler(f *testing.F) {
	seeds := []string{
		`{"TableName":"t","Key":{"pk":{"S":"a"}}}`,
		`{"TableName":"t","Item":{"pk":{"S":"a"},"v":{"L":[{"M":{"x":{"NS":["1","1.0"]}}}]}},"ConditionExpression":"size(v) > :n AND NOT (v IN (:n))","ExpressionAttributeValues":{":n":{"N":"1"}}}`,
		`{"TableName":"t","Key":{"pk":{"S":"a"}},"UpdateExpression":"SET a = list_append(if_not_exists(a, :l), :l) ADD c :n DELETE s :s REMOVE b","ExpressionAttributeValues":{":l":{"L":[]},":n":{"N":"-1e-3"},":s":{"SS":["x"]}}}`,
		`{"TableName":"t","KeyConditionExpression":"pk = :a AND begins_with(pk, :a)","ExpressionAttributeValues":{":a":{"S":"a"}},"Limit":1,"ExclusiveStartKey":{"pk":{"S":"a"}}}`,
		`{"TableName":"t","ConditionExpression":"((((a.b[1]","Item":{"pk":{"B":"!!"}}}`,
	}
	ops := []string{"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "CreateTable", "UpdateTimeToLive"}
	for i, seed := range seeds {
		f.Add(uint8(i), seed)
	}
	srv := localdynamodb.New()
	h := srv.Handler()
	setup := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"TableName":"t","BillingMode":"PAY_PER_REQUEST","AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}]}`))
	setup.Header.Set("X-Amz-Target", "DynamoDB_20120810.CreateTable")
	h.ServeHTTP(httptest.NewRecorder(), setup)
	f.Fuzz(func(t *testing.T, op uint8, body string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+ops[int(op)%len(ops)])
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 && rec.Code != 400 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if rec.Code == 400 && !strings.Contains(rec.Body.String(), `"__type"`) {
			t.Fatalf("400 without an error type: %s", rec.Body)
		}
	})
}

// TestStopEndsServing checks a stopped server no longer answers, also on a
// kept-alive connection.
func TestStopEndsServing(t *testing.T) {
	url, stop, err := localdynamodb.New().Start("")
	if err != nil {
		t.Fatal(err)
	}
	db := dynamolocal.NewClient(url)
	ctx := context.Background()
	if _, err := db.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	_, err = db.ListTables(ctx, &dynamodb.ListTablesInput{}, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
	if err == nil {
		t.Fatal("ListTables after stop succeeded")
	}
}
