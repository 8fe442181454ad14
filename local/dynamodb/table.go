package dynamodb

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"
)

// keyAttr is one key attribute: its name and scalar type (S, N or B).
type keyAttr struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

type table struct {
	name      string
	hash      keyAttr
	rangeKey  *keyAttr
	created   time.Time
	ttlAttr   string // TTL enabled on this attribute when non-empty
	items     map[string]item
	billing   string
	provision *provisioned
}

type provisioned struct {
	ReadCapacityUnits  int64 `json:"ReadCapacityUnits"`
	WriteCapacityUnits int64 `json:"WriteCapacityUnits"`
}

// fileFormat is the data file: every table with its items.
type fileFormat struct {
	Tables []fileTable `json:"tables"`
}

type fileTable struct {
	Name         string    `json:"name"`
	HashKey      keyAttr   `json:"hash_key"`
	RangeKey     *keyAttr  `json:"range_key,omitempty"`
	Created      time.Time `json:"created"`
	TTLAttribute string    `json:"ttl_attribute,omitempty"`
	Items        []item    `json:"items"`
}

func (t *table) toFile() fileTable {
	f := fileTable{Name: t.name, HashKey: t.hash, RangeKey: t.rangeKey, Created: t.created, TTLAttribute: t.ttlAttr, Items: []item{}}
	for _, k := range sortedKeys(t.items) {
		f.Items = append(f.Items, t.items[k])
	}
	return f
}

func (f fileTable) toTable() (*table, error) {
	t := &table{name: f.Name, hash: f.HashKey, rangeKey: f.RangeKey, created: f.Created, ttlAttr: f.TTLAttribute, items: map[string]item{}, billing: "PAY_PER_REQUEST"}
	if !tableNameRE.MatchString(f.Name) {
		return nil, fmt.Errorf("invalid table name")
	}
	for _, a := range append([]*keyAttr{&t.hash}, t.rangeKey) {
		if a != nil && (a.Name == "" || (a.Type != "S" && a.Type != "N" && a.Type != "B")) {
			return nil, fmt.Errorf("invalid key attribute %q of type %q", a.Name, a.Type)
		}
	}
	for i, it := range f.Items {
		if err := validateItem(it); err != nil {
			return nil, fmt.Errorf("item %d: %s", i, err.msg)
		}
		k, err := t.itemKey(it)
		if err != nil {
			return nil, fmt.Errorf("item %d: %s", i, err.msg)
		}
		t.items[k] = it.normalized()
	}
	return t, nil
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// keyOf extracts and validates the key attributes of m (an item or a Key
// parameter) and returns its canonical string. exact requires m to hold
// nothing but the key.
func (t *table) keyOf(m item, exact bool) (string, *apiError) {
	attrs := []keyAttr{t.hash}
	if t.rangeKey != nil {
		attrs = append(attrs, *t.rangeKey)
	}
	if exact && len(m) != len(attrs) {
		return "", validation("The provided key element does not match the schema")
	}
	parts := make([]string, 0, 2)
	for _, a := range attrs {
		raw, ok := m[a.Name]
		if !ok {
			if exact {
				return "", validation("The provided key element does not match the schema")
			}
			return "", invalidParam("Missing the key %s in the item", a.Name)
		}
		v, err := parseValue(raw)
		if err != nil {
			return "", invalidParam("key %s: %v", a.Name, err)
		}
		if v.typ != a.Type {
			if exact {
				return "", validation("The provided key element does not match the schema")
			}
			return "", invalidParam("Type mismatch for key %s expected: %s actual: %s", a.Name, a.Type, v.typ)
		}
		var canon string
		switch v.typ {
		case "S":
			canon = v.str()
		case "N":
			canon = v.number().RatString()
		case "B":
			canon = string(v.bytes())
		}
		if canon == "" && v.typ != "N" {
			return "", invalidParam("One or more key attribute values are not valid: The AttributeValue for a key attribute cannot contain an empty string value. Key: %s", a.Name)
		}
		parts = append(parts, canon)
	}
	b, _ := json.Marshal(parts)
	return string(b), nil
}

func (t *table) itemKey(it item) (string, *apiError) { return t.keyOf(it, false) }

// keyItem is the key attributes of it.
func (t *table) keyItem(it item) item {
	k := item{t.hash.Name: it[t.hash.Name]}
	if t.rangeKey != nil {
		k[t.rangeKey.Name] = it[t.rangeKey.Name]
	}
	return k
}

func (t *table) isKey(name string) bool {
	return name == t.hash.Name || (t.rangeKey != nil && name == t.rangeKey.Name)
}

// validateItem checks every attribute value and the item's size.
func validateItem(it item) *apiError {
	for name, raw := range it {
		if name == "" {
			return invalidParam("An attribute name is empty")
		}
		if _, err := parseValue(raw); err != nil {
			return invalidParam("attribute %s: %v", name, err)
		}
	}
	if itemSize(it) > maxItemBytes {
		return validation("Item size has exceeded the maximum allowed size")
	}
	return nil
}

func (s *Server) table(name string) (*table, *apiError) {
	if name == "" {
		return nil, validation("1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null")
	}
	t, ok := s.tables[name]
	if !ok {
		return nil, notFound(name)
	}
	return t, nil
}

// ---- tables ----

var tableNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)

type createTableInput struct {
	TableName              string
	AttributeDefinitions   []struct{ AttributeName, AttributeType string }
	KeySchema              []struct{ AttributeName, KeyType string }
	BillingMode            string
	ProvisionedThroughput  *provisioned
	GlobalSecondaryIndexes json.RawMessage
	LocalSecondaryIndexes  json.RawMessage
	StreamSpecification    json.RawMessage
}

func (s *Server) createTable(body []byte) (any, *apiError) {
	var in createTableInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if !tableNameRE.MatchString(in.TableName) {
		return nil, validation("TableName %q must be 3 to 255 characters of a-z, A-Z, 0-9, '_', '-' and '.'", in.TableName)
	}
	if in.GlobalSecondaryIndexes != nil || in.LocalSecondaryIndexes != nil {
		return nil, validation("secondary indexes are not supported by the embedded DynamoDB")
	}
	if _, ok := s.tables[in.TableName]; ok {
		return nil, &apiError{code: "ResourceInUseException", msg: "Table already exists: " + in.TableName, status: 400}
	}
	defs := map[string]string{}
	for _, d := range in.AttributeDefinitions {
		if d.AttributeType != "S" && d.AttributeType != "N" && d.AttributeType != "B" {
			return nil, invalidParam("AttributeDefinitions: attribute %s has type %q, want S, N or B", d.AttributeName, d.AttributeType)
		}
		defs[d.AttributeName] = d.AttributeType
	}
	t := &table{name: in.TableName, created: s.now(), items: map[string]item{}}
	switch len(in.KeySchema) {
	case 1, 2:
	default:
		return nil, invalidParam("KeySchema must have 1 or 2 elements, has %d", len(in.KeySchema))
	}
	for i, k := range in.KeySchema {
		typ, ok := defs[k.AttributeName]
		if !ok {
			return nil, invalidParam("Some index key attributes are not defined in AttributeDefinitions. Keys: [%s]", k.AttributeName)
		}
		want := "HASH"
		if i == 1 {
			want = "RANGE"
		}
		if k.KeyType != want {
			return nil, invalidParam("KeySchema[%d] of %s must be %s, is %q", i, k.AttributeName, want, k.KeyType)
		}
		if i == 0 {
			t.hash = keyAttr{k.AttributeName, typ}
		} else {
			t.rangeKey = &keyAttr{k.AttributeName, typ}
		}
	}
	if len(defs) != len(in.KeySchema) {
		return nil, invalidParam("Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions")
	}
	switch in.BillingMode {
	case "PAY_PER_REQUEST":
		if in.ProvisionedThroughput != nil {
			return nil, invalidParam("Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
		}
	case "", "PROVISIONED":
		if in.ProvisionedThroughput == nil {
			return nil, invalidParam("ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED")
		}
		t.provision = in.ProvisionedThroughput
	default:
		return nil, validation("BillingMode %q must be PROVISIONED or PAY_PER_REQUEST", in.BillingMode)
	}
	t.billing = cmp.Or(in.BillingMode, "PROVISIONED")
	s.tables[t.name] = t
	return map[string]any{"TableDescription": t.describe()}, nil
}

func (t *table) describe() map[string]any {
	keySchema := []map[string]string{{"AttributeName": t.hash.Name, "KeyType": "HASH"}}
	defs := []map[string]string{{"AttributeName": t.hash.Name, "AttributeType": t.hash.Type}}
	if t.rangeKey != nil {
		keySchema = append(keySchema, map[string]string{"AttributeName": t.rangeKey.Name, "KeyType": "RANGE"})
		defs = append(defs, map[string]string{"AttributeName": t.rangeKey.Name, "AttributeType": t.rangeKey.Type})
	}
	size := 0
	for _, it := range t.items {
		size += itemSize(it)
	}
	d := map[string]any{
		"TableName":            t.name,
		"TableStatus":          "ACTIVE",
		"TableArn":             "arn:aws:dynamodb:local:000000000000:table/" + t.name,
		"KeySchema":            keySchema,
		"AttributeDefinitions": defs,
		"CreationDateTime":     float64(t.created.UnixMilli()) / 1000,
		"ItemCount":            len(t.items),
		"TableSizeBytes":       size,
		"BillingModeSummary":   map[string]string{"BillingMode": t.billing},
	}
	if t.provision != nil {
		d["ProvisionedThroughput"] = t.provision
	} else {
		d["ProvisionedThroughput"] = provisioned{}
	}
	return d
}

type tableNameInput struct{ TableName string }

func (s *Server) describeTable(body []byte) (any, *apiError) {
	var in tableNameInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	t, err := s.table(in.TableName)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Table": t.describe()}, nil
}

func (s *Server) deleteTable(body []byte) (any, *apiError) {
	var in tableNameInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	t, err := s.table(in.TableName)
	if err != nil {
		return nil, err
	}
	delete(s.tables, t.name)
	d := t.describe()
	d["TableStatus"] = "DELETING"
	return map[string]any{"TableDescription": d}, nil
}

func (s *Server) listTables(body []byte) (any, *apiError) {
	var in struct {
		ExclusiveStartTableName string
		Limit                   int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Limit < 0 || in.Limit > 100 {
		return nil, validation("Limit must be between 1 and 100")
	}
	limit := cmp.Or(in.Limit, 100)
	names := []string{}
	var last string
	for _, n := range sortedKeys(s.tables) {
		if in.ExclusiveStartTableName != "" && n <= in.ExclusiveStartTableName {
			continue
		}
		if len(names) == limit {
			last = names[len(names)-1]
			break
		}
		names = append(names, n)
	}
	out := map[string]any{"TableNames": names}
	if last != "" {
		out["LastEvaluatedTableName"] = last
	}
	return out, nil
}

func (s *Server) updateTimeToLive(body []byte) (any, *apiError) {
	var in struct {
		TableName               string
		TimeToLiveSpecification *struct {
			AttributeName string
			Enabled       *bool
		}
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	t, err := s.table(in.TableName)
	if err != nil {
		return nil, err
	}
	spec := in.TimeToLiveSpecification
	if spec == nil || spec.AttributeName == "" || spec.Enabled == nil {
		return nil, validation("TimeToLiveSpecification needs AttributeName and Enabled")
	}
	switch {
	case *spec.Enabled && t.ttlAttr != "":
		return nil, validation("TimeToLive is already enabled")
	case !*spec.Enabled && t.ttlAttr == "":
		return nil, validation("TimeToLive is already disabled")
	case !*spec.Enabled && t.ttlAttr != spec.AttributeName:
		return nil, validation("TimeToLive is active on a different AttributeName: current AttributeName is %s", t.ttlAttr)
	}
	if *spec.Enabled {
		t.ttlAttr = spec.AttributeName
	} else {
		t.ttlAttr = ""
	}
	return map[string]any{"TimeToLiveSpecification": map[string]any{"AttributeName": spec.AttributeName, "Enabled": *spec.Enabled}}, nil
}

func (s *Server) describeTimeToLive(body []byte) (any, *apiError) {
	var in tableNameInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	t, err := s.table(in.TableName)
	if err != nil {
		return nil, err
	}
	if t.ttlAttr == "" {
		return map[string]any{"TimeToLiveDescription": map[string]string{"TimeToLiveStatus": "DISABLED"}}, nil
	}
	return map[string]any{"TimeToLiveDescription": map[string]string{"TimeToLiveStatus": "ENABLED", "AttributeName": t.ttlAttr}}, nil
}
