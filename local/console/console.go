// Package console is the web console `symflow serve` shows at /: the
// executions kept in the state folder, and for each its path drawn on the
// state machine graph (the failed state in red, retries and catches
// marked), its event history, the symbolicated frames and modules, the
// prepared components, and a redrive button. It answers what an operator
// asks the Step Functions console on AWS: what failed, where, why, and how
// to run it again.
//
// Pages are rendered on the server from embedded templates with a little
// inline CSS and script, so the console needs no build step and loads
// nothing from outside the address it is served on.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/local/stack"
	"github.com/symflow/symflow/shared/blob"
	"github.com/symflow/symflow/shared/execution"
)

// Executions describes and redrives executions (serve.Executor). Describe
// knows the live status of the executions the process runs, which the
// state folder may not show yet.
type Executions interface {
	Describe(ctx context.Context, name string) (execution.Execution, error)
	Redrive(ctx context.Context, name string) (execution.Execution, error)
}

// Results reads stored JSON objects (blob.Store): symbolication results
// and prepared components.
type Results interface {
	GetJSON(ctx context.Context, ref blob.Ref, v any) error
}

// Config is what a Console shows.
type Config struct {
	// StateDir holds the saved executions (stack.ListExecutions).
	StateDir string
	// Definition is the state machine the executions ran, drawn as their
	// graph; its ${...} placeholders need not be resolved.
	Definition []byte
	Executions Executions
	Results    Results
	Log        *slog.Logger
}

// Console is an http.Handler serving the console's pages:
//
//	GET  /                           the executions (?status=FAILED filters)
//	GET  /executions/{name}          one execution
//	POST /executions/{name}/redrive  redrive it, then show it
//
// None of these collide with the API's /v1/ and /api/ routes.
type Console struct {
	cfg   Config
	graph *graph
	mux   *http.ServeMux
}

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"statusClass": func(s string) string { return "status-" + strings.ToLower(s) },
	"when":        func(t time.Time) string { return formatTime(t) },
}).ParseFS(templateFS, "templates/*.html"))

// New makes a console; it fails when the definition cannot be read.
func New(cfg Config) (*Console, error) {
	g, err := parseGraph(cfg.Definition)
	if err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	c := &Console{cfg: cfg, graph: g, mux: http.NewServeMux()}
	c.mux.HandleFunc("GET /{$}", c.list)
	c.mux.HandleFunc("GET /executions/{name}", c.show)
	c.mux.HandleFunc("POST /executions/{name}/redrive", c.redrive)
	return c, nil
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:")
	w.Header().Set("X-Frame-Options", "DENY")
	c.mux.ServeHTTP(w, r)
}

// Statuses the list filters by.
var statuses = []string{asl.StatusRunning, asl.StatusSucceeded, asl.StatusFailed, "TIMED_OUT", "ABORTED"}

type row struct {
	Name, Status, Project, Event, Started, Duration, Error string
}

func (c *Console) list(w http.ResponseWriter, r *http.Request) {
	filter := strings.ToUpper(r.URL.Query().Get("status"))
	execs, err := stack.ListExecutions(c.cfg.StateDir)
	if err != nil {
		c.fail(w, fmt.Errorf("list executions in %s: %w", c.cfg.StateDir, err))
		return
	}
	var rows []row
	for _, e := range execs {
		live := c.live(r.Context(), e)
		if filter != "" && live.Status != filter {
			continue
		}
		in := inputIDs(e.Input)
		rows = append(rows, row{
			Name: e.Name, Status: live.Status, Project: in.ProjectID, Event: in.EventID,
			Started: formatTime(e.StartDate), Duration: duration(live.StartDate, live.StopDate, time.Now()),
			Error: live.Error,
		})
	}
	c.render(w, "list.html", map[string]any{"Rows": rows, "Filter": filter, "Statuses": statuses, "Total": len(execs)})
}

// live is the executor's view of a saved execution, which is newer while
// it runs; the saved one when the executor does not know it.
func (c *Console) live(ctx context.Context, e *asl.Execution) execution.Execution {
	if c.cfg.Executions != nil {
		if ex, err := c.cfg.Executions.Describe(ctx, e.Name); err == nil {
			return ex
		}
	}
	return execution.Execution{Name: e.Name, Status: e.Status, Error: e.Error, Cause: e.Cause, StartDate: e.StartDate, StopDate: e.StopDate}
}

type ids struct {
	ProjectID string `json:"project_id"`
	EventID   string `json:"event_id"`
}

func inputIDs(in json.RawMessage) ids {
	var v ids
	json.Unmarshal(in, &v) //nolint:errcheck // an input without ids shows none
	return v
}

// historyRow is one event of the history as the page shows it.
type historyRow struct {
	ID               int64
	Elapsed          string
	Type, State      string
	Error, Cause     string
	Input, Output    string
	Failed, Redriven bool
}

func (c *Console) show(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	e, err := stack.LoadExecution(c.cfg.StateDir, name)
	if errors.Is(err, stack.ErrNoExecution) {
		w.WriteHeader(http.StatusNotFound)
		c.render(w, "notfound.html", map[string]any{"Name": name})
		return
	}
	if err != nil {
		c.fail(w, fmt.Errorf("read execution %s: %w", name, err))
		return
	}
	live := c.live(r.Context(), e)
	t := traceOf(e)
	if live.Status != e.Status && !failedStatus(live.Status) {
		t.failed, t.unhandled = "", false // redriven: running again
	}
	var svg strings.Builder
	if err := svgTemplate.Execute(&svg, c.graph.layout(t, live.Error)); err != nil {
		c.fail(w, fmt.Errorf("draw execution %s: %w", name, err))
		return
	}
	var hist []historyRow
	for _, ev := range e.History {
		if ev.Nested {
			continue
		}
		d := ev.Details
		var elapsed time.Duration
		if ev.Timestamp.After(e.StartDate) {
			elapsed = ev.Timestamp.Sub(e.StartDate)
		}
		hist = append(hist, historyRow{
			ID: ev.ID, Elapsed: elapsed.Round(time.Millisecond).String(), Type: ev.Type, State: d.Name,
			Error: d.Error, Cause: causeMessage(d.Cause), Input: pretty(d.Input), Output: pretty(d.Output),
			Failed: d.Error != "", Redriven: ev.Type == "ExecutionRedriven",
		})
	}
	in := inputIDs(e.Input)
	data := map[string]any{
		"Name": e.Name, "Status": live.Status, "Project": in.ProjectID, "Event": in.EventID,
		"Started": formatTime(e.StartDate), "Duration": duration(live.StartDate, live.StopDate, time.Now()),
		"Error": live.Error, "Cause": causeMessage(live.Cause), "RedriveCount": live.RedriveCount,
		"Redrivable": failedStatus(live.Status), "Running": live.Status == asl.StatusRunning,
		"FailedState": t.failed, "Unhandled": t.unhandled, "Path": t.path,
		"Graph":   template.HTML(svg.String()), //nolint:gosec // rendered by html/template above
		"History": hist, "Input": pretty(string(e.Input)), "Output": pretty(string(e.Output)),
		"Message": r.URL.Query().Get("message"),
	}
	res := c.result(r.Context(), e)
	data["Result"] = res
	c.render(w, "execution.html", data)
}

// redrive redrives a failed execution and shows it. The form is only
// accepted from the console's own pages: a browser sends Origin with a
// POST, and a page on another site must not redrive.
func (c *Console) redrive(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); err != nil || u.Host != r.Host {
			http.Error(w, "redrive is accepted from the console's own pages only", http.StatusForbidden)
			return
		}
	}
	if c.cfg.Executions == nil {
		http.Error(w, "this console cannot redrive", http.StatusNotImplemented)
		return
	}
	msg := ""
	_, err := c.cfg.Executions.Redrive(r.Context(), name)
	var nr *execution.NotRedrivableError
	switch {
	case err == nil:
		c.cfg.Log.Info("execution redriven from the console", "execution", name)
	case errors.As(err, &nr):
		msg = "not redriven: " + nr.Error()
	case errors.Is(err, execution.ErrNotFound):
		msg = "not redriven: no execution " + name
	default:
		msg = "not redriven: " + err.Error()
	}
	to := "/executions/" + url.PathEscape(name)
	if msg != "" {
		to += "?message=" + url.QueryEscape(msg)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (c *Console) render(w http.ResponseWriter, page string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pages.ExecuteTemplate(w, page, data); err != nil {
		c.cfg.Log.Error("console page not rendered", "page", page, "error", err)
	}
}

func (c *Console) fail(w http.ResponseWriter, err error) {
	c.cfg.Log.Error("console", "error", err)
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

// duration is how long an execution ran, or has been running; never
// negative (a clock that stepped back shows 0s).
func duration(start, stop, now time.Time) string {
	end := stop
	if end.IsZero() {
		end = now
	}
	d := end.Sub(start)
	if start.IsZero() || d < 0 {
		d = 0
	}
	s := d.Round(time.Millisecond).String()
	if stop.IsZero() {
		s += " so far"
	}
	return s
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// pretty indents a JSON document for reading; anything else as it is.
func pretty(s string) string {
	if s == "" {
		return ""
	}
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return s
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return s
	}
	return string(b)
}

// causeMessage unwraps a Lambda error cause ({"errorMessage": …}).
func causeMessage(cause string) string {
	var c struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal([]byte(cause), &c) == nil && c.ErrorMessage != "" {
		return c.ErrorMessage
	}
	return cause
}
