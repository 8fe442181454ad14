package symbolicator

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinels for errors.Is. The named types below carry the details and
// match these through their Is methods.
var (
	// ErrTaskNotFound: Symbolicator does not know the polled request id
	// (it restarted, or another instance answered). Forget the task and
	// submit it again.
	ErrTaskNotFound = errors.New("symbolicator task not found")
	// ErrServiceUnavailable: Symbolicator answered 502 or 503 (restarting,
	// overloaded, or no healthy instance behind the load balancer). Draw a
	// new worker id, back off and submit again.
	ErrServiceUnavailable = errors.New("symbolicator service unavailable")
	// ErrNetwork: Symbolicator could not be reached or stopped answering,
	// and the retries were spent.
	ErrNetwork = errors.New("symbolicator unreachable")
	// ErrMalformedResponse: a 2xx answer whose body is not the JSON the
	// Symbolicator API promises. A body that is not JSON at all is first
	// retried like a network error, as the reference does.
	ErrMalformedResponse = errors.New("symbolicator response malformed")
	// ErrNotReplayable: an upload had to be retried but its file can be
	// read only once (see OpenOnce).
	ErrNotReplayable = errors.New("upload file cannot be read again for a retry")
)

// TaskNotFoundError is returned by Query when Symbolicator answers 404.
type TaskNotFoundError struct {
	RequestID string
}

func (e *TaskNotFoundError) Error() string {
	return fmt.Sprintf("symbolicator task %s not found", e.RequestID)
}

// Is makes errors.Is(err, ErrTaskNotFound) hold.
func (e *TaskNotFoundError) Is(target error) bool { return target == ErrTaskNotFound }

// ServiceUnavailableError is returned when Symbolicator answers 502 or 503.
type ServiceUnavailableError struct {
	Task       string // symbolicate, minidump, applecrashreport or query
	StatusCode int
}

func (e *ServiceUnavailableError) Error() string {
	return fmt.Sprintf("symbolicator %s: service unavailable (HTTP %d)", e.Task, e.StatusCode)
}

// Is makes errors.Is(err, ErrServiceUnavailable) hold.
func (e *ServiceUnavailableError) Is(target error) bool { return target == ErrServiceUnavailable }

// NetworkError is returned when every attempt of a request failed to reach
// Symbolicator or to read its answer (connection refused or reset, the idle
// timeout). Err is the last attempt's error.
type NetworkError struct {
	Task     string
	URL      string // without credentials
	Attempts int
	Err      error
	// TimedOut says the last attempt reached Symbolicator but got no
	// answer in time (the idle timeout), as opposed to a connection that
	// could not be made or was reset. A slow service is not a dead one.
	TimedOut bool
}

func (e *NetworkError) Error() string {
	return fmt.Sprintf("symbolicator %s %s: unreachable after %d attempts: %v", e.Task, e.URL, e.Attempts, e.Err)
}

func (e *NetworkError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNetwork) hold.
func (e *NetworkError) Is(target error) bool { return target == ErrNetwork }

// MalformedResponseError is returned when a 2xx answer cannot be used: the
// body is not JSON (on every attempt: such answers are retried like
// network errors, as the reference does), not an object, lacks a status,
// is a pending answer without a request id, or is larger than the
// configured limit.
type MalformedResponseError struct {
	Task       string
	StatusCode int
	Reason     string
	// Excerpt is the start of the (last) body, for the operator reading
	// the error.
	Excerpt string
	// Attempts is how many requests were answered so, more than 1 when a
	// body that was not JSON was retried; 0 or 1 means one.
	Attempts int
}

func (e *MalformedResponseError) Error() string {
	s := "symbolicator " + e.Task + " answered HTTP " + strconv.Itoa(e.StatusCode) + ": " + e.Reason
	if e.Attempts > 1 {
		s += " (" + strconv.Itoa(e.Attempts) + " attempts)"
	}
	if e.Excerpt != "" {
		s += "; body starts with " + strconv.Quote(e.Excerpt)
	}
	return s
}

// Is makes errors.Is(err, ErrMalformedResponse) hold.
func (e *MalformedResponseError) Is(target error) bool { return target == ErrMalformedResponse }

// ConfigError names the Config field that is wrong.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string {
	return "symbolicator config: " + e.Field + ": " + e.Reason
}

// RequestError names the request field that is wrong; nothing was sent.
type RequestError struct {
	Task   string
	Field  string
	Reason string
}

func (e *RequestError) Error() string {
	return "symbolicator " + e.Task + ": " + e.Field + ": " + e.Reason
}
