package asl

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// HistoryEvent is one entry of an execution's history, named and shaped as
// the Step Functions GetExecutionHistory API returns it: the event's details
// are marshalled under "<eventType>EventDetails" (for example
// "stateEnteredEventDetails" or "lambdaFunctionFailedEventDetails") and
// input and output are JSON documents carried as strings.
type HistoryEvent struct {
	ID              int64
	PreviousEventID int64
	Timestamp       time.Time
	Type            string
	Details         EventDetails
	// Nested is true for events of states inside a Map iteration or a
	// Parallel branch. It is not part of the AWS API; Path uses it.
	Nested bool
}

// EventDetails holds the detail fields of every event type; each type uses
// the few that AWS shows for it.
type EventDetails struct {
	Name             string `json:"name,omitempty"`
	Input            string `json:"input,omitempty"`
	Output           string `json:"output,omitempty"`
	Error            string `json:"error,omitempty"`
	Cause            string `json:"cause,omitempty"`
	Resource         string `json:"resource,omitempty"`
	ResourceType     string `json:"resourceType,omitempty"`
	Region           string `json:"region,omitempty"`
	Parameters       string `json:"parameters,omitempty"`
	RoleArn          string `json:"roleArn,omitempty"`
	TimeoutInSeconds int64  `json:"timeoutInSeconds,omitempty"`
	Index            *int   `json:"index,omitempty"`
	Length           *int   `json:"length,omitempty"`
	RedriveCount     *int   `json:"redriveCount,omitempty"`
}

// DetailsKey returns the JSON key AWS uses for an event type's details, or
// "" for event types that carry none.
func DetailsKey(eventType string) string {
	switch {
	case strings.HasSuffix(eventType, "StateEntered"):
		return "stateEnteredEventDetails"
	case strings.HasSuffix(eventType, "StateExited"):
		return "stateExitedEventDetails"
	case eventType == "LambdaFunctionStarted", eventType == "ParallelStateStarted",
		eventType == "ParallelStateSucceeded", eventType == "MapStateSucceeded", eventType == "ExecutionAborted":
		return ""
	case eventType == "":
		return ""
	}
	return strings.ToLower(eventType[:1]) + eventType[1:] + "EventDetails"
}

type eventJSON struct {
	ID              int64  `json:"id"`
	PreviousEventID int64  `json:"previousEventId"`
	Timestamp       string `json:"timestamp"`
	Type            string `json:"type"`
	Nested          bool   `json:"nested,omitempty"`
}

// MarshalJSON writes the event in GetExecutionHistory form.
func (e HistoryEvent) MarshalJSON() ([]byte, error) {
	m := map[string]any{
		"id":              e.ID,
		"previousEventId": e.PreviousEventID,
		"timestamp":       e.Timestamp.UTC().Format(timeFormat),
		"type":            e.Type,
	}
	if e.Nested {
		m["nested"] = true
	}
	if key := DetailsKey(e.Type); key != "" {
		m[key] = e.Details
	}
	b, err := encodeJSON(m)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// UnmarshalJSON reads what MarshalJSON writes (and AWS's own histories).
func (e *HistoryEvent) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	var h eventJSON
	if err := json.Unmarshal(b, &h); err != nil {
		return err
	}
	*e = HistoryEvent{ID: h.ID, PreviousEventID: h.PreviousEventID, Type: h.Type, Nested: h.Nested}
	if h.Timestamp != "" {
		t, err := time.Parse(time.RFC3339Nano, h.Timestamp)
		if err != nil {
			return err
		}
		e.Timestamp = t
	}
	if key := DetailsKey(h.Type); key != "" {
		if d, ok := raw[key]; ok {
			if err := json.Unmarshal(d, &e.Details); err != nil {
				return err
			}
		}
	}
	return nil
}

// timeFormat is how AWS prints times in the context object.
const timeFormat = "2006-01-02T15:04:05.000Z"

// Path returns the names of the top-level states the execution entered, in
// order (states inside Map iterations and Parallel branches are left out).
func Path(exec *Execution) []string {
	var out []string
	for _, ev := range exec.History {
		if !ev.Nested && strings.HasSuffix(ev.Type, "StateEntered") {
			out = append(out, ev.Details.Name)
		}
	}
	return out
}

// Failure names the top-level state a FAILED, TIMED_OUT or ABORTED
// execution failed in ("" otherwise), and whether the error left that state
// with no Catch to take it, rather than the execution reaching a Fail state.
func Failure(exec *Execution) (state string, unhandled bool) {
	switch exec.Status {
	case StatusFailed, "TIMED_OUT", "ABORTED":
	default:
		return "", false
	}
	for i := len(exec.History) - 1; i >= 0; i-- {
		ev := exec.History[i]
		if !ev.Nested && strings.HasSuffix(ev.Type, "StateEntered") {
			return ev.Details.Name, ev.Type != "FailStateEntered"
		}
	}
	return "", false
}

// String renders the event on one line for live progress output, e.g.
// "#7 TaskStateEntered SubmitTask" or "#9 LambdaFunctionFailed
// ServiceUnavailable: 503". Inputs and outputs are left out.
func (e HistoryEvent) String() string {
	var b strings.Builder
	b.WriteString("#")
	b.WriteString(strconv.FormatInt(e.ID, 10))
	b.WriteString(" ")
	b.WriteString(e.Type)
	d := e.Details
	if d.Name != "" {
		b.WriteString(" " + d.Name)
	}
	if d.Index != nil {
		b.WriteString("[" + strconv.Itoa(*d.Index) + "]")
	}
	if d.ResourceType != "" {
		b.WriteString(" " + d.ResourceType + ":" + d.Resource)
	} else if d.Resource != "" {
		b.WriteString(" " + d.Resource)
	}
	if d.Error != "" {
		b.WriteString(" " + d.Error)
		if d.Cause != "" {
			cause := d.Cause
			if len(cause) > 200 {
				cause = cause[:200] + "…"
			}
			b.WriteString(": " + cause)
		}
	}
	return b.String()
}
