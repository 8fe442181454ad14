package dynamodb

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// item is one stored item: attribute name → the attribute value's wire form,
// e.g. {"S":"abc"}. Values are kept as sent so they echo back unchanged.
type item map[string]json.RawMessage

// value is a decoded attribute value: its type tag (S, N, B, BOOL, NULL, SS,
// NS, BS, L, M) and the JSON of its content.
type value struct {
	typ string
	raw json.RawMessage
}

// msgf makes an error whose text is a DynamoDB error message, which,
// unlike Go error strings, often starts with a capital.
func msgf(format string, args ...any) error {
	return wireMessage(fmt.Sprintf(format, args...))
}

type wireMessage string

func (m wireMessage) Error() string { return string(m) }

// parseValue decodes and validates an attribute value's wire form.
func parseValue(raw json.RawMessage) (value, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return value{}, msgf("attribute value is not a JSON object")
	}
	if len(obj) != 1 {
		return value{}, msgf("attribute value must have exactly one data type, has %d", len(obj))
	}
	for typ, content := range obj {
		v := value{typ: typ, raw: content}
		if err := v.validate(); err != nil {
			return value{}, err
		}
		return v, nil
	}
	return value{}, msgf("attribute value has no data type")
}

func (v value) validate() error {
	switch v.typ {
	case "S":
		var s string
		if json.Unmarshal(v.raw, &s) != nil {
			return msgf("S value is not a string")
		}
	case "N":
		var s string
		if json.Unmarshal(v.raw, &s) != nil {
			return msgf("N value is not a string")
		}
		if _, err := parseNumber(s); err != nil {
			return err
		}
	case "B":
		var s string
		if json.Unmarshal(v.raw, &s) != nil {
			return msgf("B value is not a base64 string")
		}
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			return msgf("B value is not base64")
		}
	case "BOOL":
		var b bool
		if json.Unmarshal(v.raw, &b) != nil {
			return msgf("BOOL value is not a boolean")
		}
	case "NULL":
		var b bool
		if json.Unmarshal(v.raw, &b) != nil || !b {
			return msgf("NULL value must be true")
		}
	case "SS", "NS", "BS":
		var ss []string
		if json.Unmarshal(v.raw, &ss) != nil {
			return msgf("%s value is not an array of strings", v.typ)
		}
		if len(ss) == 0 {
			return msgf("%s value is an empty set", v.typ)
		}
		seen := map[string]bool{}
		for _, s := range ss {
			el := value{typ: v.typ[:1], raw: mustJSON(s)}
			if err := el.validate(); err != nil {
				return msgf("%s element: %v", v.typ, err)
			}
			k := s
			if v.typ == "NS" {
				n, _ := parseNumber(s)
				k = n.RatString()
			}
			if seen[k] {
				return msgf("Input collection contains duplicates")
			}
			seen[k] = true
		}
	case "L":
		var l []json.RawMessage
		if json.Unmarshal(v.raw, &l) != nil {
			return msgf("L value is not an array")
		}
		for i, el := range l {
			if _, err := parseValue(el); err != nil {
				return msgf("L[%d]: %v", i, err)
			}
		}
	case "M":
		var m map[string]json.RawMessage
		if json.Unmarshal(v.raw, &m) != nil || m == nil {
			return msgf("M value is not an object")
		}
		for k, el := range m {
			if _, err := parseValue(el); err != nil {
				return msgf("M[%q]: %v", k, err)
			}
		}
	default:
		return msgf("unknown data type %q", v.typ)
	}
	return nil
}

// wire is v's wire form, {"<type>": <content>}.
func (v value) wire() json.RawMessage {
	b, _ := json.Marshal(map[string]json.RawMessage{v.typ: v.raw})
	return b
}

func (v value) str() string {
	var s string
	_ = json.Unmarshal(v.raw, &s)
	return s
}

func (v value) bytes() []byte {
	b, _ := base64.StdEncoding.DecodeString(v.str())
	return b
}

func (v value) number() *big.Rat {
	n, _ := parseNumber(v.str())
	return n
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func numberValue(n *big.Rat) value { return value{typ: "N", raw: mustJSON(formatNumber(n))} }

var numberRE = regexp.MustCompile(`^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$`)

// parseNumber parses a DynamoDB number (decimal, with optional sign,
// fraction and exponent) and enforces DynamoDB's limits: 38 significant
// digits, magnitude from 1E-130 to below 1E+126. The limits are checked on
// the text, before any arithmetic, so a huge exponent costs nothing.
func parseNumber(s string) (*big.Rat, error) {
	if !numberRE.MatchString(s) {
		return nil, msgf("A value provided cannot be converted into a number")
	}
	mant, expText := s, ""
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, expText = s[:i], s[i+1:]
	}
	intPart, frac, _ := strings.Cut(strings.TrimLeft(mant, "+-"), ".")
	digits := intPart + frac
	first := strings.IndexFunc(digits, func(r rune) bool { return r != '0' })
	if first < 0 {
		return new(big.Rat), nil // zero, whatever its exponent
	}
	if len(strings.TrimRight(digits[first:], "0")) > 38 {
		return nil, msgf("DynamoDB only supports precision up to 38 digits")
	}
	exp := 0
	if expText != "" {
		e, err := strconv.Atoi(expText)
		if err != nil || e > 1000 || e < -1000 {
			if strings.HasPrefix(expText, "-") {
				return nil, msgf("Number underflow. Attempting to store a number with magnitude smaller than supported range")
			}
			return nil, msgf("Number overflow. Attempting to store a number with magnitude larger than supported range")
		}
		exp = e
	}
	// The value is 0.<digits from first> × 10^mag.
	mag := len(intPart) - first + exp
	switch {
	case mag-1 > 125:
		return nil, msgf("Number overflow. Attempting to store a number with magnitude larger than supported range")
	case mag-1 < -130:
		return nil, msgf("Number underflow. Attempting to store a number with magnitude smaller than supported range")
	}
	n, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, msgf("A value provided cannot be converted into a number")
	}
	return n, nil
}

// formatNumber writes n as DynamoDB returns numbers: plain decimal, no
// exponent, no trailing zeros.
func formatNumber(n *big.Rat) string {
	if n.IsInt() {
		return n.Num().String()
	}
	s := n.FloatString(140)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// normalize rewrites every number in a valid attribute value to DynamoDB's
// canonical form, as DynamoDB stores them.
func normalize(raw json.RawMessage) json.RawMessage {
	v, err := parseValue(raw)
	if err != nil {
		return raw
	}
	switch v.typ {
	case "N":
		return numberValue(v.number()).wire()
	case "NS":
		var ss []string
		_ = json.Unmarshal(v.raw, &ss)
		for i, e := range ss {
			n, _ := parseNumber(e)
			ss[i] = formatNumber(n)
		}
		return value{typ: "NS", raw: mustJSON(ss)}.wire()
	case "L":
		var l []json.RawMessage
		_ = json.Unmarshal(v.raw, &l)
		for i := range l {
			l[i] = normalize(l[i])
		}
		return value{typ: "L", raw: mustJSON(l)}.wire()
	case "M":
		var m map[string]json.RawMessage
		_ = json.Unmarshal(v.raw, &m)
		for k := range m {
			m[k] = normalize(m[k])
		}
		return value{typ: "M", raw: mustJSON(m)}.wire()
	}
	return raw
}

// normalized is it with every number in canonical form.
func (it item) normalized() item {
	out := make(item, len(it))
	for k, v := range it {
		out[k] = normalize(v)
	}
	return out
}

// compare orders two scalar values of the same type (S, N, B); ok is false
// for values that DynamoDB does not order against each other.
func compare(a, b value) (c int, ok bool) {
	if a.typ != b.typ {
		return 0, false
	}
	switch a.typ {
	case "S":
		return strings.Compare(a.str(), b.str()), true
	case "N":
		return a.number().Cmp(b.number()), true
	case "B":
		return bytes.Compare(a.bytes(), b.bytes()), true
	}
	return 0, false
}

// equal reports whether two values are equal: same type and content, sets
// regardless of order, numbers by value.
func equal(a, b value) bool {
	if a.typ != b.typ {
		return false
	}
	if c, ok := compare(a, b); ok {
		return c == 0
	}
	switch a.typ {
	case "SS", "NS", "BS":
		return slices.Equal(setKeys(a), setKeys(b))
	case "L":
		var la, lb []json.RawMessage
		_ = json.Unmarshal(a.raw, &la)
		_ = json.Unmarshal(b.raw, &lb)
		if len(la) != len(lb) {
			return false
		}
		for i := range la {
			va, _ := parseValue(la[i])
			vb, _ := parseValue(lb[i])
			if !equal(va, vb) {
				return false
			}
		}
		return true
	case "M":
		var ma, mb map[string]json.RawMessage
		_ = json.Unmarshal(a.raw, &ma)
		_ = json.Unmarshal(b.raw, &mb)
		if len(ma) != len(mb) {
			return false
		}
		for k, ra := range ma {
			rb, ok := mb[k]
			if !ok {
				return false
			}
			va, _ := parseValue(ra)
			vb, _ := parseValue(rb)
			if !equal(va, vb) {
				return false
			}
		}
		return true
	}
	var x, y any
	_ = json.Unmarshal(a.raw, &x)
	_ = json.Unmarshal(b.raw, &y)
	return reflect.DeepEqual(x, y)
}

// setKeys returns a set's elements in a canonical, sorted form.
func setKeys(v value) []string {
	var ss []string
	_ = json.Unmarshal(v.raw, &ss)
	if v.typ == "NS" {
		for i, s := range ss {
			n, _ := parseNumber(s)
			ss[i] = n.RatString()
		}
	}
	slices.Sort(ss)
	return ss
}

// size is the attribute's size as DynamoDB's size() function reports it.
func size(v value) (int, bool) {
	switch v.typ {
	case "S":
		return len(v.str()), true
	case "B":
		return len(v.bytes()), true
	case "SS", "NS", "BS":
		return len(setKeys(v)), true
	case "L":
		var l []json.RawMessage
		_ = json.Unmarshal(v.raw, &l)
		return len(l), true
	case "M":
		var m map[string]json.RawMessage
		_ = json.Unmarshal(v.raw, &m)
		return len(m), true
	}
	return 0, false
}

// itemSize approximates DynamoDB's item size: names plus values' encoded
// lengths. Close enough to enforce the 400 KB item limit.
func itemSize(it item) int {
	n := 0
	for k, v := range it {
		n += len(k) + len(v)
	}
	return n
}

// clone copies an item so a stored item is never shared with a caller.
func (it item) clone() item {
	c := make(item, len(it))
	for k, v := range it {
		c[k] = slices.Clone(v)
	}
	return c
}
