// Package metrics records symflow's operational metrics. Producers depend on
// the small Recorder interface; the Lambdas hand them an EMF recorder, which
// writes CloudWatch Embedded Metric Format lines to standard output where
// CloudWatch Logs turns them into metrics without any API call.
package metrics

// Unit is a CloudWatch metric unit. Only the units CloudWatch accepts are
// meaningful; EMF drops any other unit rather than have CloudWatch reject the
// whole log event.
type Unit string

// The CloudWatch units symflow uses. Every unit CloudWatch knows is accepted
// by EMF (see validUnits), these are the common ones.
const (
	UnitNone         Unit = "None"
	UnitCount        Unit = "Count"
	UnitBytes        Unit = "Bytes"
	UnitSeconds      Unit = "Seconds"
	UnitMilliseconds Unit = "Milliseconds"
	UnitMicroseconds Unit = "Microseconds"
	UnitPercent      Unit = "Percent"
)

// Recorder records metric values. Implementations must be safe for
// concurrent use and must never block for long or fail the caller: a metric
// that cannot be recorded is dropped.
//
// dims are the metric's dimensions (name → value). Keep their values to a
// small set (status codes, task names): every distinct combination is a
// separate CloudWatch metric, billed as such. Never put ids or secrets there.
type Recorder interface {
	// Count adds value to the counter name.
	Count(name string, value float64, dims map[string]string)
	// Observe records one sample of a distribution (a duration, a size).
	Observe(name string, value float64, unit Unit, dims map[string]string)
}

// Discard is a Recorder that records nothing, for callers and tests that
// have no use for metrics.
var Discard Recorder = discard{}

type discard struct{}

func (discard) Count(string, float64, map[string]string)         {}
func (discard) Observe(string, float64, Unit, map[string]string) {}
