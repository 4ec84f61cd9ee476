package bitrix24test

import (
	"cmp"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// crm.item.list: a list method with as many rows as a test seeds, for paging.
//
// Shape, per the method reference (api-reference/crm/universal/crm-item-list.md) and
// settings/performance/huge-data.md of the official docs:
//
//   - params: entityTypeId (required), select (field names or "*"), filter (keys with an
//     optional prefix "=", "!", "!=", ">", ">=", "<", "<=", "@", "!@"), order
//     ({field: "ASC"|"DESC"}), start.
//   - result: {"items": [...]}, at most 50 items, camelCase fields, "id" a number.
//   - start >= 0: the page at that offset, "total" (the rows matching the filter) and
//     "next" while more rows follow. start = -1: the first 50 rows, no "next", and
//     "total": 0 — the server does not count (huge-data.md shows "total" => 0).
//
// The fake's items have the fields id, title, stageId, assignedById, opportunity and
// createdTime. Choices where the real server is not known:
//
//   - Field names in select, filter and order match case-insensitively; an unknown field
//     or prefix answers 400 ERROR_ARGUMENT with the fake's own text. "logic" and nested
//     sub-filters are not implemented (ERROR_ARGUMENT).
//   - "id" is always in the items, whatever select says (the primary key).
//   - The default order is id ascending. Keys of a multi-key order apply in sorted key
//     order (the decoded JSON object has lost the caller's order), then by id.
//   - An entityTypeId nobody seeded is an empty type; entityTypeId missing or < 1
//     answers 400 ERROR_ARGUMENT.
//   - The method needs the "crm" scope, like the real one: start the fake with
//     WithScope("crm,...") / WithWebhookScope, or the answer is insufficient_scope.
//
// # Cost model
//
// A page costs what the database walks for it, at [DefaultListRowCost] per row
// ([Server.SetListRowCost]): the rows it skips to reach the offset, the rows it returns
// and, unless start is -1, every row matching the filter again for COUNT(*) ("total").
// Bounds on id (">id", "<id", ...) are index ranges and cost nothing; other filter
// conditions are treated as indexed too. So a page at offset k of n matching rows costs
// (k + 50 + n) rows with start >= 0, and 50 rows with start = -1 — the reason the docs
// tell exporters to walk by ">id" with start = -1. The fake does not sleep: it adds the
// modelled time to the answer's time.processing, time.duration and time.finish (read
// from the fake's clock, see [WithClock]), and charges it to the operating-time limit
// (OPERATION_TIME_LIMIT), as a slow query would on a portal.

// scopeCRM is the scope of crm.* methods.
const scopeCRM = "crm"

// DefaultListRowCost is the modelled database time per row walked by crm.item.list.
// The docs' own example counts 2,387,743 leads in 49.9 s, about 20 µs a row; the
// default is smaller so that tests stay far from OPERATION_TIME_LIMIT.
const DefaultListRowCost = time.Microsecond

// crmStore holds the CRM items of the fake portal (under Server.mu). Its zero value is
// ready to use.
type crmStore struct {
	items      map[int][]*crmItem // entityTypeId -> items by ascending id
	lastID     map[int]int
	rowCost    time.Duration
	rowCostSet bool
	spent      time.Duration // modelled time charged so far
}

// clone copies the store for a Snapshot. Items are never changed after seeding, so the
// slices are copied and the items shared.
func (c crmStore) clone() crmStore {
	out := c
	out.items = make(map[int][]*crmItem, len(c.items))
	for k, v := range c.items {
		out.items[k] = slices.Clone(v)
	}
	out.lastID = maps.Clone(c.lastID)
	return out
}

type crmItem struct {
	id           int
	title        string
	stageID      string
	assignedByID int
	opportunity  float64
	createdTime  time.Time
}

// crmFields are the item fields in the order the answer lists them.
var crmFields = []string{"id", "title", "stageId", "assignedById", "opportunity", "createdTime"}

func (it *crmItem) field(name string) any {
	switch name {
	case "id":
		return it.id
	case "title":
		return it.title
	case "stageId":
		return it.stageID
	case "assignedById":
		return it.assignedByID
	case "opportunity":
		return it.opportunity
	case "createdTime":
		return it.createdTime.Format("2006-01-02T15:04:05-07:00")
	}
	return nil
}

// number returns a numeric field's value without boxing it.
func (it *crmItem) number(name string) (float64, bool) {
	switch name {
	case "id":
		return float64(it.id), true
	case "assignedById":
		return float64(it.assignedByID), true
	case "opportunity":
		return it.opportunity, true
	}
	return 0, false
}

// crmField resolves a field name case-insensitively.
func crmField(name string) (string, bool) {
	for _, f := range crmFields {
		if strings.EqualFold(f, name) {
			return f, true
		}
	}
	return "", false
}

// SeedCRMItems adds n items of entityTypeID (1 lead, 2 deal, ... or a smart process
// type) with ids following the type's last one, and returns their ids. Titles are
// "Item #<id>", stages cycle through NEW, IN_PROCESS and WON, assignedById through
// users 1..3, opportunity is 100 × id.
func (s *Server) SeedCRMItems(entityTypeID, n int) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.crm
	if st.items == nil {
		st.items, st.lastID = map[int][]*crmItem{}, map[int]int{}
	}
	stages := []string{"NEW", "IN_PROCESS", "WON"}
	now := s.cfg.now().Truncate(time.Second)
	ids := make([]int, 0, max(n, 0))
	for range max(n, 0) {
		st.lastID[entityTypeID]++
		id := st.lastID[entityTypeID]
		st.items[entityTypeID] = append(st.items[entityTypeID], &crmItem{
			id: id, title: "Item #" + strconv.Itoa(id), stageID: stages[id%len(stages)],
			assignedByID: 1 + id%3, opportunity: float64(100 * id), createdTime: now,
		})
		ids = append(ids, id)
	}
	return ids
}

// DeleteCRMItem removes an item, as if a user deleted it during an export. It reports
// whether the item existed.
func (s *Server) DeleteCRMItem(entityTypeID, id int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	items := s.crm.items[entityTypeID]
	i, found := slices.BinarySearchFunc(items, id, func(it *crmItem, id int) int { return cmp.Compare(it.id, id) })
	if found {
		s.crm.items[entityTypeID] = slices.Delete(items, i, i+1)
	}
	return found
}

// SetListRowCost sets the modelled database time per row walked by crm.item.list
// (default [DefaultListRowCost]; 0: free). See the cost model in methods_crm.go.
func (s *Server) SetListRowCost(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.crm.rowCost, s.crm.rowCostSet = max(d, 0), true
}

// ListTime returns the modelled database time crm.item.list has charged so far.
func (s *Server) ListTime() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.crm.spent
}

func (st *crmStore) perRow() time.Duration {
	if st.rowCostSet {
		return st.rowCost
	}
	return DefaultListRowCost
}

// crmCond is one filter condition.
type crmCond struct {
	op    string // "=", "!=", ">", ">=", "<", "<=", "@", "!@"
	field string
	value any
	num   float64 // value as a number, for numeric fields
}

// crmFilterOps are the prefixes the fake understands, longest first.
var crmFilterOps = []string{"!@", "!=", ">=", "<=", "@", "=", "!", ">", "<"}

func crmArgErr(desc string) *restError {
	return newErr(http.StatusBadRequest, "ERROR_ARGUMENT", desc)
}

// paramCI reads a parameter whose name matches case-insensitively.
func paramCI(params map[string]any, name string) (any, bool) {
	if v, ok := params[name]; ok {
		return v, true
	}
	for k, v := range params {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// asMap reads a PHP array parameter: a JSON object or list, or form brackets.
func asMap(v any) (map[string]any, bool) {
	switch x := v.(type) {
	case map[string]any:
		return x, true
	case []any:
		m := make(map[string]any, len(x))
		for i, e := range x {
			m[strconv.Itoa(i)] = e
		}
		return m, true
	case nil:
		return map[string]any{}, true
	case string:
		return map[string]any{}, x == ""
	}
	return nil, false
}

func parseCRMFilter(v any) ([]crmCond, *restError) {
	m, ok := asMap(v)
	if !ok {
		return nil, crmArgErr("The filter is not an array.")
	}
	var conds []crmCond
	for _, key := range sortedKeys(m) {
		if _, nested := m[key].(map[string]any); nested || strings.EqualFold(key, "logic") {
			return nil, crmArgErr("Sub-filters and logic are not implemented by the fake: " + key)
		}
		op := "="
		name := key
		for _, p := range crmFilterOps {
			if strings.HasPrefix(key, p) {
				op, name = p, key[len(p):]
				break
			}
		}
		if op == "!" {
			op = "!="
		}
		field, ok := crmField(name)
		if !ok {
			return nil, crmArgErr("Unknown filter field: " + key)
		}
		conds = append(conds, crmCond{op: op, field: field, value: m[key], num: phpFloatval(m[key])})
	}
	return conds, nil
}

// compareValue compares an item's value with a filter value the PHP way: numbers as
// numbers, anything else as strings.
func compareValue(have, want any) int {
	switch h := have.(type) {
	case int:
		return cmp.Compare(float64(h), phpFloatval(want))
	case float64:
		return cmp.Compare(h, phpFloatval(want))
	}
	hs, _ := scalarString(have)
	ws, _ := scalarString(want)
	return strings.Compare(hs, ws)
}

// phpFloatval is PHP's floatval for request values.
func phpFloatval(v any) float64 {
	switch x := v.(type) {
	case json.Number:
		f, _ := x.Float64()
		return f
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return float64(phpIntval(x))
		}
		return f
	}
	return float64(phpIntval(v))
}

func (c crmCond) match(it *crmItem) bool {
	switch c.op {
	case "@", "!@":
		list, _ := asMap(c.value)
		have := it.field(c.field)
		in := false
		for _, w := range list {
			if compareValue(have, w) == 0 {
				in = true
				break
			}
		}
		return in == (c.op == "@")
	}
	var r int
	if n, ok := it.number(c.field); ok {
		r = cmp.Compare(n, c.num)
	} else {
		r = compareValue(it.field(c.field), c.value)
	}
	switch c.op {
	case "=":
		return r == 0
	case "!=":
		return r != 0
	case ">":
		return r > 0
	case ">=":
		return r >= 0
	case "<":
		return r < 0
	default: // "<="
		return r <= 0
	}
}

// crmOrder is one sort key.
type crmOrder struct {
	field string
	desc  bool
}

func parseCRMOrder(v any) ([]crmOrder, *restError) {
	m, ok := asMap(v)
	if !ok {
		return nil, crmArgErr("The order is not an array.")
	}
	var order []crmOrder
	for _, key := range sortedKeys(m) {
		field, ok := crmField(key)
		if !ok {
			return nil, crmArgErr("Unknown order field: " + key)
		}
		dir, _ := scalarString(m[key])
		switch strings.ToUpper(dir) {
		case "ASC":
			order = append(order, crmOrder{field: field})
		case "DESC":
			order = append(order, crmOrder{field: field, desc: true})
		default:
			return nil, crmArgErr("Order direction should be one of {ASC|DESC}")
		}
	}
	return order, nil
}

func parseCRMSelect(v any) []string {
	m, _ := asMap(v)
	if len(m) == 0 {
		return crmFields
	}
	want := map[string]bool{"id": true}
	for _, e := range m {
		s, _ := scalarString(e)
		if s == "*" {
			return crmFields
		}
		if f, ok := crmField(s); ok {
			want[f] = true
		}
	}
	var out []string
	for _, f := range crmFields {
		if want[f] {
			out = append(out, f)
		}
	}
	return out
}

// methodCRMItemList is crm.item.list (Bitrix\Crm\Controller\Item::listAction).
func methodCRMItemList(c *callCtx) (any, *navData, *restError) {
	typeID := 0
	if v, ok := paramCI(c.params, "entityTypeId"); ok {
		typeID = phpIntval(v)
	}
	if typeID < 1 {
		return nil, nil, crmArgErr("entityTypeId is required")
	}
	var conds []crmCond
	if v, ok := paramCI(c.params, "filter"); ok {
		var err *restError
		if conds, err = parseCRMFilter(v); err != nil {
			return nil, nil, err
		}
	}
	order := []crmOrder{{field: "id"}}
	if v, ok := paramCI(c.params, "order"); ok {
		o, err := parseCRMOrder(v)
		if err != nil {
			return nil, nil, err
		}
		if len(o) > 0 {
			order = append(o, crmOrder{field: "id"})
		}
	}
	sel := crmFields
	if v, ok := paramCI(c.params, "select"); ok {
		sel = parseCRMSelect(v)
	}

	st := &c.s.crm
	var matching []*crmItem
	for _, it := range st.items[typeID] {
		if matchAll(conds, it) {
			matching = append(matching, it)
		}
	}
	switch {
	case order[0].field == "id" && !order[0].desc:
		// the store's order: ids are unique, later keys never apply
	case order[0].field == "id":
		slices.Reverse(matching)
	default:
		slices.SortStableFunc(matching, func(a, b *crmItem) int {
			for _, o := range order {
				r := compareValue(a.field(o.field), b.field(o.field))
				if o.desc {
					r = -r
				}
				if r != 0 {
					return r
				}
			}
			return 0
		})
	}

	offset, counted := c.start, true
	if offset < 0 {
		offset, counted = 0, false
	}
	page := matching[min(offset, len(matching)):min(offset+ufListLimit, len(matching))]
	items := make([]any, 0, len(page))
	for _, it := range page {
		row := newOmap()
		for _, f := range sel {
			row.set(f, it.field(f))
		}
		items = append(items, row)
	}

	walked := offset + len(page)
	if offset > len(matching) {
		walked = len(matching)
	}
	nav := &navData{}
	if counted {
		walked += len(matching)
		nav.total = len(matching)
		if offset+len(page) < len(matching) {
			nav.hasNext, nav.next = true, offset+len(page)
		}
	}
	cost := time.Duration(walked) * st.perRow()
	st.spent += cost
	c.cost += cost

	res := newOmap()
	res.set("items", items)
	return res, nav, nil
}

func matchAll(conds []crmCond, it *crmItem) bool {
	for _, cond := range conds {
		if !cond.match(it) {
			return false
		}
	}
	return true
}
