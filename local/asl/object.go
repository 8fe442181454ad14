package asl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/symflow/symflow/internal/jsonstring"
)

// object is a JSON object that keeps its members in the order they were
// written or added, as Step Functions does in state input and output.
// Decoded documents use it; the engine also accepts map[string]any (members
// then read in key order) for values it builds itself.
type object struct {
	keys []string
	vals map[string]any
}

func newObject(n int) *object {
	return &object{keys: make([]string, 0, n), vals: make(map[string]any, n)}
}

func (o *object) get(k string) (any, bool) {
	v, ok := o.vals[k]
	return v, ok
}

// set adds or replaces a member; a new member goes last.
func (o *object) set(k string, v any) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

// clone copies the object shallowly.
func (o *object) clone() *object {
	c := &object{keys: append(make([]string, 0, len(o.keys)+1), o.keys...), vals: make(map[string]any, len(o.vals)+1)}
	for k, v := range o.vals {
		c.vals[k] = v
	}
	return c
}

// MarshalJSON writes the members in order.
func (o *object) MarshalJSON() ([]byte, error) {
	return appendJSON(nil, o)
}

// members gives an object's keys (in order) and values, for both object
// representations.
func members(v any) ([]string, map[string]any, bool) {
	switch t := v.(type) {
	case *object:
		return t.keys, t.vals, true
	case map[string]any:
		return sortedKeys(t), t, true
	}
	return nil, nil, false
}

// member reads one member of an object value.
func member(v any, k string) (any, bool) {
	switch t := v.(type) {
	case *object:
		return t.get(k)
	case map[string]any:
		e, ok := t[k]
		return e, ok
	}
	return nil, false
}

// decodeOrdered decodes one JSON value from dec, objects as *object.
func decodeOrdered(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := newObject(4)
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("object key %v is not a string", kt)
				}
				v, err := decodeOrdered(dec)
				if err != nil {
					return nil, err
				}
				o.set(k, v)
			}
			if _, err := dec.Token(); err != nil { // '}'
				return nil, err
			}
			return o, nil
		case '[':
			a := []any{}
			for dec.More() {
				v, err := decodeOrdered(dec)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			if _, err := dec.Token(); err != nil { // ']'
				return nil, err
			}
			return a, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return tok, nil // nil, bool, json.Number, string
	}
}

// decodeJSON decodes one JSON document into an engine value.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeOrdered(dec)
	if err != nil {
		if err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return v, nil
}

// encodeJSON encodes an engine value compactly, members in order, without
// HTML escaping (AWS keeps <, > and & as they are).
func encodeJSON(v any) ([]byte, error) {
	return appendJSON(nil, v)
}

func appendJSON(b []byte, v any) ([]byte, error) {
	switch t := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, t), nil
	case string:
		return jsonstring.Append(b, t), nil
	case json.Number:
		if !json.Valid([]byte(t)) {
			return nil, fmt.Errorf("json: invalid number literal %q", string(t))
		}
		return append(b, t...), nil
	case *object:
		b = append(b, '{')
		for i, k := range t.keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonstring.Append(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendJSON(b, t.vals[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case map[string]any:
		b = append(b, '{')
		for i, k := range sortedKeys(t) {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonstring.Append(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendJSON(b, t[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case []any:
		b = append(b, '[')
		for i, e := range t {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case json.RawMessage:
		var buf bytes.Buffer
		if err := json.Compact(&buf, t); err != nil {
			return nil, err
		}
		return append(b, buf.Bytes()...), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return append(b, bytes.TrimRight(buf.Bytes(), "\n")...), nil
}
