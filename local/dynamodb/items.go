package dynamodb

import (
	"encoding/json"
	"slices"
	"strings"
)

// exprInput is what every item operation shares: placeholders, and the
// legacy parameters this server rejects.
type exprInput struct {
	ExpressionAttributeNames  map[string]string
	ExpressionAttributeValues map[string]json.RawMessage

	Expected            json.RawMessage
	AttributeUpdates    json.RawMessage
	KeyConditions       json.RawMessage
	QueryFilter         json.RawMessage
	ScanFilter          json.RawMessage
	AttributesToGet     json.RawMessage
	ConditionalOperator json.RawMessage
	IndexName           *string
	Segment             *int
}

// parser checks the shared parameters and returns a parser for the
// request's expressions.
func (in *exprInput) parser(anyExpr bool) (*exprParser, *apiError) {
	for name, v := range map[string]json.RawMessage{
		"Expected": in.Expected, "AttributeUpdates": in.AttributeUpdates, "KeyConditions": in.KeyConditions,
		"QueryFilter": in.QueryFilter, "ScanFilter": in.ScanFilter, "AttributesToGet": in.AttributesToGet,
		"ConditionalOperator": in.ConditionalOperator,
	} {
		if v != nil {
			return nil, validation("the legacy parameter %s is not supported by the embedded DynamoDB; use expressions", name)
		}
	}
	if in.IndexName != nil {
		return nil, validation("secondary indexes are not supported by the embedded DynamoDB")
	}
	if in.Segment != nil {
		return nil, validation("parallel scans are not supported by the embedded DynamoDB")
	}
	if in.ExpressionAttributeNames != nil {
		if !anyExpr {
			return nil, validation("ExpressionAttributeNames can only be specified when using expressions")
		}
		if len(in.ExpressionAttributeNames) == 0 {
			return nil, validation("ExpressionAttributeNames must not be empty")
		}
	}
	if in.ExpressionAttributeValues != nil {
		if !anyExpr {
			return nil, validation("ExpressionAttributeValues can only be specified when using expressions")
		}
		if len(in.ExpressionAttributeValues) == 0 {
			return nil, validation("ExpressionAttributeValues must not be empty")
		}
	}
	return newParser(in.ExpressionAttributeNames, in.ExpressionAttributeValues), nil
}

// exprs parses the request's expressions in order; an empty source is
// skipped. It fails on a syntax error or on a placeholder no expression used.
type exprs struct {
	p   *exprParser
	err *apiError
}

func (e *exprs) condition(kind, src string) cond {
	if e.err != nil || src == "" {
		return nil
	}
	c, err := e.p.parseCondition(src)
	if err != nil {
		e.err = validation("Invalid %s: %v", kind, err)
	}
	return c
}

func (e *exprs) update(src string) *update {
	if e.err != nil || src == "" {
		return nil
	}
	u, err := e.p.parseUpdate(src)
	if err != nil {
		e.err = validation("Invalid UpdateExpression: %v", strings.TrimPrefix(err.Error(), "Invalid UpdateExpression: "))
	}
	return u
}

func (e *exprs) projection(src string) []string {
	if e.err != nil || src == "" {
		return nil
	}
	names, err := e.p.parseProjection(src)
	if err != nil {
		e.err = validation("Invalid ProjectionExpression: %v", err)
	}
	return names
}

func (e *exprs) done() *apiError {
	if e.err != nil {
		return e.err
	}
	if err := e.p.checkAllUsed(); err != nil {
		return validation("%v", err)
	}
	return nil
}

func project(it item, names []string) item {
	if names == nil {
		return it
	}
	out := item{}
	for _, n := range names {
		if v, ok := it[n]; ok {
			out[n] = v
		}
	}
	return out
}

func checkReturnValues(rv string, allowed ...string) *apiError {
	if rv == "" || slices.Contains(allowed, rv) {
		return nil
	}
	return validation("ReturnValues %q is not valid for this operation; use one of %s", rv, strings.Join(allowed, ", "))
}

// ---- GetItem ----

func (s *Server) getItem(body []byte) (any, *apiError) {
	var in struct {
		exprInput
		TableName            string
		Key                  item
		ProjectionExpression string
		ConsistentRead       bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	t, err := s.table(in.TableName)
	if err != nil {
		return nil, err
	}
	p, err := in.parser(in.ProjectionExpression != "")
	if err != nil {
		return nil, err
	}
	e := exprs{p: p}
	names := e.projection(in.ProjectionExpression)
	if err := e.done(); err != nil {
		return nil, err
	}
	k, err := t.keyOf(in.Key, true)
	if err != nil {
		return nil, err
	}
	it, ok := t.items[k]
	if !ok {
		return map[string]any{}, nil
	}
	return map[string]any{"Item": project(it, names)}, nil
}

// ---- PutItem ----

type writeInput struct {
	exprInput
	TableName                           string
	ConditionExpression                 string
	ReturnValues                        string
	ReturnValuesOnConditionCheckFailure string
}

func (in *writeInput) check() *apiError {
	switch in.ReturnValuesOnConditionCheckFailure {
	case "", "NONE", "ALL_OLD":
		return nil
	}
	return validation("ReturnValuesOnConditionCheckFailure %q must be NONE or ALL_OLD", in.ReturnValuesOnConditionCheckFailure)
}

// writeTarget checks what every write shares, in DynamoDB's order (the
// table, the legacy parameters, ReturnValues against the values the
// operation allows, the expression attribute maps), and returns the table
// and an expression parser; needExpr says whether the write has an
// expression at all.
func (s *Server) writeTarget(in *writeInput, needExpr bool, returnValues ...string) (*table, *exprs, *apiError) {
	t, err := s.table(in.TableName)
	if err != nil {
		return nil, nil, err
	}
	if err := in.check(); err != nil {
		return nil, nil, err
	}
	if err := checkReturnValues(in.ReturnValues, returnValues...); err != nil {
		return nil, nil, err
	}
	p, err := in.parser(needExpr)
	if err != nil {
		return nil, nil, err
	}
	return t, &exprs{p: p}, nil
}

// failCondition is the ConditionalCheckFailedException for old, with the
// old item when the request asked for it.
func (in *writeInput) failCondition(old item, exists bool) *apiError {
	if in.ReturnValuesOnConditionCheckFailure == "ALL_OLD" && exists {
		return conditionFailed(old.clone())
	}
	return conditionFailed(nil)
}

func (s *Server) putItem(body []byte) (any, *apiError) {
	var in struct {
		writeInput
		Item item
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	t, e, err := s.writeTarget(&in.writeInput, in.ConditionExpression != "", "NONE", "ALL_OLD")
	if err != nil {
		return nil, err
	}
	c := e.condition("ConditionExpression", in.ConditionExpression)
	if err := e.done(); err != nil {
		return nil, err
	}
	if in.Item == nil {
		return nil, validation("1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must not be null")
	}
	if err := validateItem(in.Item); err != nil {
		return nil, err
	}
	k, err := t.itemKey(in.Item)
	if err != nil {
		return nil, err
	}
	old, exists := t.items[k]
	if c != nil && !c.eval(orEmpty(old)) {
		return nil, in.failCondition(old, exists)
	}
	t.items[k] = in.Item.normalized()
	if in.ReturnValues == "ALL_OLD" && exists {
		return map[string]any{"Attributes": old}, nil
	}
	return map[string]any{}, nil
}

func orEmpty(it item) item {
	if it == nil {
		return item{}
	}
	return it
}

// ---- UpdateItem ----

func (s *Server) updateItem(body []byte) (any, *apiError) {
	var in struct {
		writeInput
		Key              item
		UpdateExpression string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	t, e, err := s.writeTarget(&in.writeInput, in.ConditionExpression != "" || in.UpdateExpression != "",
		"NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW")
	if err != nil {
		return nil, err
	}
	u := e.update(in.UpdateExpression)
	c := e.condition("ConditionExpression", in.ConditionExpression)
	if err := e.done(); err != nil {
		return nil, err
	}
	k, err := t.keyOf(in.Key, true)
	if err != nil {
		return nil, err
	}
	var touched []string
	if u != nil {
		for _, a := range u.sets {
			touched = append(touched, a.path)
		}
		touched = append(touched, u.removes...)
		for _, a := range u.adds {
			touched = append(touched, a.path)
		}
		for _, a := range u.deletes {
			touched = append(touched, a.path)
		}
		for _, name := range touched {
			if t.isKey(name) {
				return nil, validation("One or more parameter values were invalid: Cannot update attribute %s. This attribute is part of the key", name)
			}
		}
	}
	old, exists := t.items[k]
	if c != nil && !c.eval(orEmpty(old)) {
		return nil, in.failCondition(old, exists)
	}
	base := old
	if !exists {
		base = in.Key.clone()
	}
	next := base.clone()
	if u != nil {
		var uerr error
		next, uerr = u.apply(base)
		if uerr != nil {
			return nil, validation("%v", uerr)
		}
	}
	if err := validateItem(next); err != nil {
		return nil, err
	}
	next = next.normalized()
	t.items[k] = next
	switch in.ReturnValues {
	case "ALL_OLD":
		if exists {
			return map[string]any{"Attributes": old}, nil
		}
	case "ALL_NEW":
		return map[string]any{"Attributes": next}, nil
	case "UPDATED_OLD":
		if exists {
			if a := project(old, touched); len(a) > 0 {
				return map[string]any{"Attributes": a}, nil
			}
		}
	case "UPDATED_NEW":
		if a := project(next, touched); len(a) > 0 {
			return map[string]any{"Attributes": a}, nil
		}
	}
	return map[string]any{}, nil
}

// ---- DeleteItem ----

func (s *Server) deleteItem(body []byte) (any, *apiError) {
	var in struct {
		writeInput
		Key item
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	t, e, err := s.writeTarget(&in.writeInput, in.ConditionExpression != "", "NONE", "ALL_OLD")
	if err != nil {
		return nil, err
	}
	c := e.condition("ConditionExpression", in.ConditionExpression)
	if err := e.done(); err != nil {
		return nil, err
	}
	k, err := t.keyOf(in.Key, true)
	if err != nil {
		return nil, err
	}
	old, exists := t.items[k]
	if c != nil && !c.eval(orEmpty(old)) {
		return nil, in.failCondition(old, exists)
	}
	delete(t.items, k)
	if in.ReturnValues == "ALL_OLD" && exists {
		return map[string]any{"Attributes": old}, nil
	}
	return map[string]any{}, nil
}

// ---- Query and Scan ----

// maxPageBytes is how much item data one Query or Scan page reads at most.
const maxPageBytes = 1 << 20

type readInput struct {
	exprInput
	TableName            string
	FilterExpression     string
	ProjectionExpression string
	ExclusiveStartKey    item
	Limit                *int
	Select               string
	ConsistentRead       bool
}

func (s *Server) query(body []byte) (any, *apiError) {
	var in struct {
		readInput
		KeyConditionExpression string
		ScanIndexForward       *bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	t, err := s.table(in.TableName)
	if err != nil {
		return nil, err
	}
	if in.KeyConditionExpression == "" {
		return nil, validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
	}
	p, err := in.parser(true)
	if err != nil {
		return nil, err
	}
	e := exprs{p: p}
	kc := e.condition("KeyConditionExpression", in.KeyConditionExpression)
	filter := e.condition("FilterExpression", in.FilterExpression)
	names := e.projection(in.ProjectionExpression)
	if err := e.done(); err != nil {
		return nil, err
	}
	hashVal, err := t.checkKeyCondition(kc)
	if err != nil {
		return nil, err
	}
	var matches []item
	for _, it := range t.items {
		hv, _ := pathOperand{t.hash.Name}.get(it)
		if equal(hv, hashVal) && kc.eval(it) {
			matches = append(matches, it)
		}
	}
	t.sortItems(matches)
	if in.ScanIndexForward != nil && !*in.ScanIndexForward {
		slices.Reverse(matches)
	}
	return t.page(matches, &in.readInput, filter, names, in.ScanIndexForward == nil || *in.ScanIndexForward)
}

func (s *Server) scan(body []byte) (any, *apiError) {
	var in readInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	t, err := s.table(in.TableName)
	if err != nil {
		return nil, err
	}
	p, err := in.parser(in.FilterExpression != "" || in.ProjectionExpression != "")
	if err != nil {
		return nil, err
	}
	e := exprs{p: p}
	filter := e.condition("FilterExpression", in.FilterExpression)
	names := e.projection(in.ProjectionExpression)
	if err := e.done(); err != nil {
		return nil, err
	}
	all := make([]item, 0, len(t.items))
	for _, it := range t.items {
		all = append(all, it)
	}
	t.sortItems(all)
	return t.page(all, &in, filter, names, true)
}

// checkKeyCondition accepts what DynamoDB accepts as a key condition: the
// hash key equal to a value, optionally AND one condition on the range key
// (=, <, <=, >, >=, BETWEEN, begins_with). It returns the hash key value.
func (t *table) checkKeyCondition(kc cond) (value, *apiError) {
	var terms []cond
	var flatten func(c cond)
	flatten = func(c cond) {
		if a, ok := c.(andCond); ok {
			flatten(a.a)
			flatten(a.b)
			return
		}
		terms = append(terms, c)
	}
	flatten(kc)
	bad := validation("Query key condition not supported")
	if len(terms) > 2 {
		return value{}, bad
	}
	var hashVal *value
	rangeSeen := false
	for _, term := range terms {
		switch c := term.(type) {
		case cmpCond:
			path, ok1 := c.l.(pathOperand)
			val, ok2 := c.r.(constOperand)
			if !ok1 || !ok2 || c.op == "<>" {
				return value{}, bad
			}
			switch {
			case path.name == t.hash.Name && c.op == "=" && hashVal == nil:
				if val.v.typ != t.hash.Type {
					return value{}, invalidParam("Condition parameter type does not match schema type")
				}
				hashVal = &val.v
			case t.rangeKey != nil && path.name == t.rangeKey.Name && !rangeSeen:
				if val.v.typ != t.rangeKey.Type {
					return value{}, invalidParam("Condition parameter type does not match schema type")
				}
				rangeSeen = true
			default:
				return value{}, bad
			}
		case betweenCond:
			path, ok := c.v.(pathOperand)
			if !ok || t.rangeKey == nil || path.name != t.rangeKey.Name || rangeSeen {
				return value{}, bad
			}
			rangeSeen = true
		case funcCond:
			if c.fn != "begins_with" || t.rangeKey == nil || c.path != t.rangeKey.Name || rangeSeen {
				return value{}, bad
			}
			rangeSeen = true
		default:
			return value{}, bad
		}
	}
	if hashVal == nil {
		return value{}, validation("Query condition missed key schema element: %s", t.hash.Name)
	}
	return *hashVal, nil
}

// cmpItems orders items as DynamoDB returns them: by hash key (in an
// arbitrary but fixed order), then by range key.
func (t *table) cmpItems(a, b item) int {
	ha, _ := pathOperand{t.hash.Name}.get(a)
	hb, _ := pathOperand{t.hash.Name}.get(b)
	if !equal(ha, hb) || t.rangeKey == nil {
		ka, _ := t.keyOf(t.keyItem(a), false)
		kb, _ := t.keyOf(t.keyItem(b), false)
		return strings.Compare(ka, kb)
	}
	ra, _ := pathOperand{t.rangeKey.Name}.get(a)
	rb, _ := pathOperand{t.rangeKey.Name}.get(b)
	n, _ := compare(ra, rb)
	return n
}

func (t *table) sortItems(items []item) { slices.SortFunc(items, t.cmpItems) }

// page returns one page of sorted items after ExclusiveStartKey, evaluating
// at most Limit items or 1 MB, then filtering and projecting.
func (t *table) page(sorted []item, in *readInput, filter cond, names []string, forward bool) (any, *apiError) {
	if in.Limit != nil && *in.Limit < 1 {
		return nil, validation("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", *in.Limit)
	}
	switch in.Select {
	case "", "ALL_ATTRIBUTES", "COUNT", "SPECIFIC_ATTRIBUTES":
	default:
		return nil, validation("Select %q is not supported by the embedded DynamoDB", in.Select)
	}
	start := 0
	if in.ExclusiveStartKey != nil {
		if _, err := t.keyOf(in.ExclusiveStartKey, true); err != nil {
			return nil, invalidParam("The provided starting key is invalid: %s", err.msg)
		}
		// Resume after the start key's position, whether or not its item
		// still exists.
		start = len(sorted)
		for i, it := range sorted {
			c := t.cmpItems(it, in.ExclusiveStartKey)
			if forward && c > 0 || !forward && c < 0 {
				start = i
				break
			}
		}
	}
	items := []item{}
	scanned, bytes := 0, 0
	var last item
	for _, it := range sorted[start:] {
		if in.Limit != nil && scanned == *in.Limit || bytes >= maxPageBytes {
			break
		}
		scanned++
		bytes += itemSize(it)
		last = it
		if filter != nil && !filter.eval(it) {
			continue
		}
		items = append(items, project(it, names))
	}
	out := map[string]any{"Count": len(items), "ScannedCount": scanned}
	if in.Select != "COUNT" {
		out["Items"] = items
	}
	if last != nil && start+scanned < len(sorted) || last != nil && in.Limit != nil && scanned == *in.Limit {
		out["LastEvaluatedKey"] = t.keyItem(last)
	}
	return out, nil
}
