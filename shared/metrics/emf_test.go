package metrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

var fixedTime = time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC)

func newTestEMF(buf *bytes.Buffer, ns string, dims ...Dimension) *EMF {
	e := NewEMF(buf, ns, dims...)
	e.now = func() time.Time { return fixedTime }
	return e
}

// checkEMF validates one line against the Embedded Metric Format
// specification: a JSON object whose _aws member holds a Timestamp number
// and CloudWatchMetrics directives, each with a Namespace, Dimensions (sets
// of at most 30 keys naming root members with string values of at most 1024
// characters) and at most 100 Metrics (Name naming a root member holding a
// number or an array of at most 100 numbers; Unit, if present, a CloudWatch
// unit). It returns the decoded document.
func checkEMF(t *testing.T, line string) map[string]any {
	t.Helper()
	var doc map[string]any
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("line is not a JSON object: %v\n%s", err, line)
	}
	if dec.More() {
		t.Fatalf("data after the JSON object: %s", line)
	}
	aws, ok := doc["_aws"].(map[string]any)
	if !ok {
		t.Fatalf("_aws is %T, want object: %s", doc["_aws"], line)
	}
	ts, ok := aws["Timestamp"].(json.Number)
	if !ok {
		t.Fatalf("_aws.Timestamp is %T, want number: %s", aws["Timestamp"], line)
	}
	if _, err := ts.Int64(); err != nil {
		t.Fatalf("_aws.Timestamp %s is not integer milliseconds", ts)
	}
	for k := range aws {
		if k != "Timestamp" && k != "CloudWatchMetrics" {
			t.Errorf("_aws has member %q the specification does not define", k)
		}
	}
	directives, ok := aws["CloudWatchMetrics"].([]any)
	if !ok || len(directives) == 0 {
		t.Fatalf("_aws.CloudWatchMetrics is %v, want a non-empty array", aws["CloudWatchMetrics"])
	}
	for _, d := range directives {
		dir, ok := d.(map[string]any)
		if !ok {
			t.Fatalf("directive is %T, want object", d)
		}
		if ns, ok := dir["Namespace"].(string); !ok || ns == "" || len(ns) > 255 {
			t.Errorf("Namespace %v: want a string of 1 to 255 characters", dir["Namespace"])
		}
		sets, ok := dir["Dimensions"].([]any)
		if !ok {
			t.Fatalf("Dimensions is %T, want array", dir["Dimensions"])
		}
		for _, set := range sets {
			keys, ok := set.([]any)
			if !ok {
				t.Fatalf("DimensionSet is %T, want array", set)
			}
			if len(keys) > 30 {
				t.Errorf("DimensionSet has %d keys, at most 30 allowed", len(keys))
			}
			for _, k := range keys {
				name, ok := k.(string)
				if !ok {
					t.Fatalf("dimension key is %T, want string", k)
				}
				v, ok := doc[name].(string)
				if !ok {
					t.Errorf("dimension %q: root member is %T, want string", name, doc[name])
				}
				if v == "" || len([]rune(v)) > 1024 {
					t.Errorf("dimension %q: value %q must have 1 to 1024 characters", name, v)
				}
			}
		}
		defs, ok := dir["Metrics"].([]any)
		if !ok || len(defs) > 100 {
			t.Fatalf("Metrics is %v, want an array of at most 100", dir["Metrics"])
		}
		for _, m := range defs {
			def, ok := m.(map[string]any)
			if !ok {
				t.Fatalf("MetricDefinition is %T, want object", m)
			}
			name, ok := def["Name"].(string)
			if !ok || name == "" {
				t.Fatalf("MetricDefinition Name %v, want non-empty string", def["Name"])
			}
			switch v := doc[name].(type) {
			case json.Number:
			case []any:
				if len(v) > 100 {
					t.Errorf("metric %q has %d values, at most 100", name, len(v))
				}
			default:
				t.Errorf("metric %q: root member is %T, want number", name, doc[name])
			}
			if u, ok := def["Unit"]; ok {
				if s, _ := u.(string); !validUnits[Unit(s)] {
					t.Errorf("metric %q: unit %v is not a CloudWatch unit", name, u)
				}
			}
		}
	}
	return doc
}

func TestEMFDocumentShape(t *testing.T) {
	var buf bytes.Buffer
	e := newTestEMF(&buf, "symflow", Dim("function", "submit"))
	e.Count("symbolicator.response", 1, map[string]string{"task": "minidump", "status": "completed"})

	want := `{"_aws":{"Timestamp":1795525200000,"CloudWatchMetrics":[{"Namespace":"symflow",` +
		`"Dimensions":[["function","status","task"]],"Metrics":[{"Name":"symbolicator.response","Unit":"Count"}]}]},` +
		`"function":"submit","status":"completed","task":"minidump","symbolicator.response":1}` + "\n"
	if got := buf.String(); got != want {
		t.Errorf("line\n got %s\nwant %s", got, want)
	}
	checkEMF(t, buf.String())
	if e.Err() != nil || e.Dropped() != 0 {
		t.Errorf("Err %v, Dropped %d; want none", e.Err(), e.Dropped())
	}
}

func TestEMFMetrics(t *testing.T) {
	long := strings.Repeat("x", 256)
	manyDims := map[string]string{}
	for i := range 35 {
		manyDims[fmt.Sprintf("d%02d", i)] = "v"
	}
	tests := []struct {
		name      string
		defaults  []Dimension
		record    func(*EMF)
		wantLines int
		wantUnit  string
		wantValue string
		wantDims  []string // the DimensionSet
		wantProps map[string]string
	}{
		{
			name:      "observe with unit",
			record:    func(e *EMF) { e.Observe("size", 1536, UnitBytes, map[string]string{"task": "query"}) },
			wantLines: 1, wantUnit: "Bytes", wantValue: "1536", wantDims: []string{"task"},
		},
		{
			name:      "fractional milliseconds",
			record:    func(e *EMF) { e.Observe("latency", 12.5, UnitMilliseconds, nil) },
			wantLines: 1, wantUnit: "Milliseconds", wantValue: "12.5", wantDims: []string{},
		},
		{
			name:      "unknown unit written as None",
			record:    func(e *EMF) { e.Observe("x", 1, Unit("Furlongs"), nil) },
			wantLines: 1, wantUnit: "None", wantValue: "1", wantDims: []string{},
		},
		{
			name:      "metric dimension overrides default",
			defaults:  []Dimension{Dim("function", "submit"), Dim("stage", "prod")},
			record:    func(e *EMF) { e.Count("n", 2, map[string]string{"stage": "dev"}) },
			wantLines: 1, wantUnit: "Count", wantValue: "2", wantDims: []string{"function", "stage"},
			wantProps: map[string]string{"function": "submit", "stage": "dev"},
		},
		{
			name: "unusable dimensions dropped, metric kept",
			record: func(e *EMF) {
				e.Count("n", 1, map[string]string{"": "v", "empty": "", "n": "collides", "_aws": "x", long: "v", "ok": "yes"})
			},
			wantLines: 1, wantUnit: "Count", wantValue: "1", wantDims: []string{"ok"},
		},
		{
			name:      "at most 30 dimensions",
			record:    func(e *EMF) { e.Count("n", 1, manyDims) },
			wantLines: 1, wantUnit: "Count", wantValue: "1",
			wantDims: func() []string {
				var d []string
				for i := range 30 {
					d = append(d, fmt.Sprintf("d%02d", i))
				}
				return d
			}(),
		},
		{name: "NaN dropped", record: func(e *EMF) { e.Count("n", math.NaN(), nil) }},
		{name: "infinity dropped", record: func(e *EMF) { e.Observe("n", math.Inf(1), UnitSeconds, nil) }},
		{name: "empty name dropped", record: func(e *EMF) { e.Count("", 1, nil) }},
		{name: "name _aws dropped", record: func(e *EMF) { e.Count("_aws", 1, nil) }},
		{name: "over-long name dropped", record: func(e *EMF) { e.Count(long, 1, nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			e := newTestEMF(&buf, "symflow", tt.defaults...)
			tt.record(e)
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if buf.Len() == 0 {
				lines = nil
			}
			if len(lines) != tt.wantLines {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), tt.wantLines, buf.String())
			}
			if tt.wantLines == 0 {
				if e.Dropped() != 1 {
					t.Errorf("Dropped() = %d, want 1", e.Dropped())
				}
				return
			}
			doc := checkEMF(t, lines[0])
			dir := doc["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)
			def := dir["Metrics"].([]any)[0].(map[string]any)
			if def["Unit"] != tt.wantUnit {
				t.Errorf("unit %v, want %s", def["Unit"], tt.wantUnit)
			}
			if v := doc[def["Name"].(string)].(json.Number).String(); v != tt.wantValue {
				t.Errorf("value %s, want %s", v, tt.wantValue)
			}
			set := dir["Dimensions"].([]any)[0].([]any)
			got := make([]string, len(set))
			for i, k := range set {
				got[i] = k.(string)
			}
			if strings.Join(got, ",") != strings.Join(tt.wantDims, ",") {
				t.Errorf("dimensions %v, want %v", got, tt.wantDims)
			}
			for k, v := range tt.wantProps {
				if doc[k] != v {
					t.Errorf("member %s = %v, want %q", k, doc[k], v)
				}
			}
		})
	}
}

func TestEMFNamespaceDefault(t *testing.T) {
	for _, ns := range []string{"", strings.Repeat("n", 256)} {
		var buf bytes.Buffer
		newTestEMF(&buf, ns).Count("n", 1, nil)
		doc := checkEMF(t, buf.String())
		got := doc["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)["Namespace"]
		if got != defaultNamespace {
			t.Errorf("namespace %.20q...: got %v, want %s", ns, got, defaultNamespace)
		}
	}
}

func TestEMFConcurrentLinesStayWhole(t *testing.T) {
	var buf bytes.Buffer
	e := newTestEMF(&buf, "symflow", Dim("function", "poll"))
	const writers, each = 8, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				e.Observe("latency", float64(i), UnitMilliseconds, map[string]string{"writer": fmt.Sprint(w)})
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != writers*each {
		t.Fatalf("%d lines, want %d", len(lines), writers*each)
	}
	for _, l := range lines {
		checkEMF(t, l)
	}
}

type failingWriter struct{ calls int }

func (f *failingWriter) Write(p []byte) (int, error) {
	f.calls++
	return 0, errors.New("stdout closed")
}

func TestEMFWriteErrorKeptAndCounted(t *testing.T) {
	w := &failingWriter{}
	e := NewEMF(w, "symflow")
	e.Count("a", 1, nil)
	e.Count("b", 1, nil)
	if w.calls != 2 {
		t.Errorf("writer called %d times, want 2 (recording goes on after an error)", w.calls)
	}
	if err := e.Err(); err == nil || !strings.Contains(err.Error(), "stdout closed") || !strings.Contains(err.Error(), "metric a") {
		t.Errorf("Err() = %v, want the first write error naming metric a", err)
	}
	if e.Dropped() != 2 {
		t.Errorf("Dropped() = %d, want 2", e.Dropped())
	}
}

func TestEMFNilWriterAndDiscard(t *testing.T) {
	NewEMF(nil, "symflow").Count("n", 1, nil)
	Discard.Count("n", 1, nil)
	Discard.Observe("n", 1, UnitSeconds, map[string]string{"a": "b"})
}

func TestEMFInvalidUTF8StaysJSON(t *testing.T) {
	var buf bytes.Buffer
	newTestEMF(&buf, "symflow").Count("n", 1, map[string]string{"k": "a\xffb", "q": `"quoted"\`})
	doc := checkEMF(t, buf.String())
	if doc["q"] != `"quoted"\` {
		t.Errorf("q = %v", doc["q"])
	}
}

func BenchmarkEMFCount(b *testing.B) {
	e := NewEMF(discardWriter{}, "symflow", Dim("function", "poll"))
	dims := map[string]string{"task": "query", "status": "pending"}
	for b.Loop() {
		e.Count("symbolicator.response", 1, dims)
	}
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }

func FuzzEMF(f *testing.F) {
	f.Add("latency", 12.5, "Milliseconds", "task", "query", "status", "pending")
	f.Add("", math.NaN(), "", "", "", "_aws", "x")
	f.Add("n", math.Copysign(0, -1), "Furlongs", "n", "collides", "k", "a\xffb")
	f.Fuzz(func(t *testing.T, name string, value float64, unit, k1, v1, k2, v2 string) {
		var buf bytes.Buffer
		e := newTestEMF(&buf, "symflow", Dim("function", "fuzz"))
		e.Observe(name, value, Unit(unit), map[string]string{k1: v1, k2: v2})
		if buf.Len() == 0 {
			if e.Dropped() != 1 {
				t.Fatalf("nothing written and Dropped() = %d", e.Dropped())
			}
			return
		}
		if strings.Count(buf.String(), "\n") != 1 || !strings.HasSuffix(buf.String(), "\n") {
			t.Fatalf("want exactly one line: %q", buf.String())
		}
		checkEMF(t, buf.String())
	})
}
