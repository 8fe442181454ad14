package asl

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Values inside the engine are what encoding/json produces with UseNumber:
// nil, bool, json.Number, string, []any and map[string]any. Numbers stay
// json.Number so that large integers and their spelling survive a round trip.

// mustJSON encodes a value the engine built itself; such values always encode.
func mustJSON(v any) string {
	b, err := encodeJSON(v)
	if err != nil {
		return "null"
	}
	return string(b)
}

// deepCopy copies a value so that a state can change its copy freely.
func deepCopy(v any) any {
	switch t := v.(type) {
	case *object:
		c := newObject(len(t.keys))
		for _, k := range t.keys {
			c.set(k, deepCopy(t.vals[k]))
		}
		return c
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		a := make([]any, len(t))
		for i, e := range t {
			a[i] = deepCopy(e)
		}
		return a
	default:
		return v
	}
}

// toFloat reports a JSON number's value.
func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		if err != nil {
			return 0, false
		}
		return f, true
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

// toInt reports a JSON number's value when it is an integer.
func toInt(v any) (int64, bool) {
	f, ok := toFloat(v)
	if !ok || f != math.Trunc(f) || math.IsInf(f, 0) || f > 1<<53 || f < -(1<<53) {
		return 0, false
	}
	return int64(f), true
}

// number builds a JSON number value.
func number(f float64) any {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return json.Number(strconv.FormatInt(int64(f), 10))
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
}

func intNumber(i int64) any { return json.Number(strconv.FormatInt(i, 10)) }

// jsonEqual compares two values as JSON (numbers by value).
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case *object, map[string]any:
		_, xv, _ := members(x)
		_, yv, ok := members(b)
		if !ok || len(xv) != len(yv) {
			return false
		}
		for k, v := range xv {
			w, ok := yv[k]
			if !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	f, ok := toFloat(a)
	if !ok {
		return false
	}
	g, ok := toFloat(b)
	return ok && f == g
}

// typeName names a value's JSON type for error messages.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case *object, map[string]any:
		return "object"
	case []any:
		return "array"
	}
	if _, ok := toFloat(v); ok {
		return "number"
	}
	return fmt.Sprintf("%T", v)
}
