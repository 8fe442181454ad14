package metrics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Limits of the CloudWatch Embedded Metric Format specification and of
// CloudWatch metrics that EMF enforces before writing, so that a bad name or
// value loses one metric instead of CloudWatch rejecting the log event.
const (
	maxDimensions     = 30   // keys per DimensionSet
	maxNameLen        = 255  // metric and dimension names
	maxDimensionValue = 1024 // characters of a dimension value
	maxNamespaceLen   = 255
	defaultNamespace  = "aws-embedded-metrics"
	metadataMember    = "_aws"
)

// validUnits are the units CloudWatch accepts.
var validUnits = map[Unit]bool{
	"Seconds": true, "Microseconds": true, "Milliseconds": true,
	"Bytes": true, "Kilobytes": true, "Megabytes": true, "Gigabytes": true, "Terabytes": true,
	"Bits": true, "Kilobits": true, "Megabits": true, "Gigabits": true, "Terabits": true,
	"Percent": true, "Count": true,
	"Bytes/Second": true, "Kilobytes/Second": true, "Megabytes/Second": true,
	"Gigabytes/Second": true, "Terabytes/Second": true,
	"Bits/Second": true, "Kilobits/Second": true, "Megabits/Second": true,
	"Gigabits/Second": true, "Terabits/Second": true,
	"Count/Second": true, "None": true,
}

// Dimension is a dimension every metric of an EMF recorder carries, such as
// the function name.
type Dimension struct {
	Name  string
	Value string
}

// Dim is shorthand for Dimension{Name: name, Value: value}.
func Dim(name, value string) Dimension { return Dimension{Name: name, Value: value} }

// EMF is a Recorder that writes each metric as one CloudWatch Embedded
// Metric Format document on its own line:
//
//	{"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"symflow",
//	  "Dimensions":[["function","status"]],"Metrics":[{"Name":"requests","Unit":"Count"}]}]},
//	 "function":"submit","status":"ok","requests":1}
//
// One line per metric keeps nothing in memory that a frozen or killed Lambda
// could lose, and one Write per line keeps lines whole when the writer is
// shared with a logger. It is safe for concurrent use.
//
// A metric that the format cannot carry (empty or over-long name, NaN or
// infinite value) is dropped and counted in Dropped; a dimension that cannot
// be one (empty or over-long name or value, a name colliding with the metric
// or with "_aws", past the 30th) is dropped from that metric, so the value is
// still published with fewer dimensions rather than lost.
type EMF struct {
	namespace string
	defaults  map[string]string
	now       func() time.Time

	mu      sync.Mutex
	w       io.Writer
	err     error
	dropped int
	buf     bytes.Buffer
}

// NewEMF returns a recorder writing to w under namespace (the default
// namespace of the AWS libraries, "aws-embedded-metrics", when empty or
// longer than CloudWatch accepts; a nil w discards) with dims added to every metric. A metric's
// own dimensions win over dims of the same name.
func NewEMF(w io.Writer, namespace string, dims ...Dimension) *EMF {
	if namespace == "" || utf8.RuneCountInString(namespace) > maxNamespaceLen {
		namespace = defaultNamespace
	}
	if w == nil {
		w = io.Discard
	}
	defaults := make(map[string]string, len(dims))
	for _, d := range dims {
		defaults[strings.ToValidUTF8(d.Name, "\uFFFD")] = strings.ToValidUTF8(d.Value, "\uFFFD")
	}
	return &EMF{namespace: namespace, defaults: defaults, now: time.Now, w: w}
}

// Count implements Recorder; the metric's unit is Count.
func (e *EMF) Count(name string, value float64, dims map[string]string) {
	e.write(name, value, UnitCount, dims)
}

// Observe implements Recorder. An unknown unit is written as None.
func (e *EMF) Observe(name string, value float64, unit Unit, dims map[string]string) {
	e.write(name, value, unit, dims)
}

// Err returns the first error writing to the underlying writer, if any.
// Recording goes on after an error: a transient failure loses only the
// lines it hit.
func (e *EMF) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// Dropped returns how many metrics were not written because their name or
// value cannot be expressed in EMF, or because writing them failed.
func (e *EMF) Dropped() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dropped
}

func (e *EMF) write(name string, value float64, unit Unit, dims map[string]string) {
	if !validUnits[unit] {
		unit = UnitNone
	}
	// Names are compared as they will read in JSON: invalid UTF-8 becomes
	// U+FFFD there, so two different byte strings can name one member.
	name = strings.ToValidUTF8(name, "\uFFFD")
	if name == "" || name == metadataMember || utf8.RuneCountInString(name) > maxNameLen ||
		math.IsNaN(value) || math.IsInf(value, 0) {
		e.mu.Lock()
		e.dropped++
		e.mu.Unlock()
		return
	}

	merged := maps.Clone(e.defaults)
	for k, v := range dims {
		merged[strings.ToValidUTF8(k, "\uFFFD")] = strings.ToValidUTF8(v, "\uFFFD")
	}
	keys := make([]string, 0, len(merged))
	for _, k := range slices.Sorted(maps.Keys(merged)) {
		v := merged[k]
		if k == "" || k == name || k == metadataMember || utf8.RuneCountInString(k) > maxNameLen ||
			v == "" || utf8.RuneCountInString(v) > maxDimensionValue || len(keys) == maxDimensions {
			continue
		}
		keys = append(keys, k)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	b := &e.buf
	b.Reset()
	b.WriteString(`{"_aws":{"Timestamp":`)
	b.WriteString(strconv.FormatInt(e.now().UnixMilli(), 10))
	b.WriteString(`,"CloudWatchMetrics":[{"Namespace":`)
	writeJSONString(b, e.namespace)
	b.WriteString(`,"Dimensions":[[`)
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(b, k)
	}
	b.WriteString(`]],"Metrics":[{"Name":`)
	writeJSONString(b, name)
	b.WriteString(`,"Unit":`)
	writeJSONString(b, string(unit))
	b.WriteString(`}]}]}`)
	for _, k := range keys {
		b.WriteByte(',')
		writeJSONString(b, k)
		b.WriteByte(':')
		writeJSONString(b, merged[k])
	}
	b.WriteByte(',')
	writeJSONString(b, name)
	b.WriteByte(':')
	b.WriteString(strconv.FormatFloat(value, 'g', -1, 64))
	b.WriteString("}\n")

	if _, err := e.w.Write(b.Bytes()); err != nil {
		e.dropped++
		if e.err == nil {
			e.err = fmt.Errorf("write embedded metric %s: %w", name, err)
		}
	}
	// Keep the buffer from pinning memory after one unusually large line.
	if b.Cap() > 64<<10 {
		e.buf = bytes.Buffer{}
	}
}

// writeJSONString writes s as a JSON string.
func writeJSONString(b *bytes.Buffer, s string) {
	out, err := json.Marshal(s)
	if err != nil {
		// json.Marshal never fails for a string; keep the line valid anyway.
		out = []byte(`""`)
	}
	b.Write(out)
}
