package bitrix24

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// ListOption adjusts [Client.List] and [Client.Scan] for a method's shape. The known
// families (crm.item.list, tasks.task.list, crm.deal.list, ...) need none: see
// [Client.Scan].
type ListOption func(*listOptions)

type listOptions struct {
	// rowsKey is the member of an object result that holds the rows; "" means the
	// result is the list itself. With rowsKeySet false, a list or an object with a
	// single list member is accepted.
	rowsKey    string
	rowsKeySet bool
	// idField names the ID in each row; filterField names it in filter and order.
	idField     string
	filterField string
	desc        bool
	// pages is how many pages one request fetches (WithPagesPerRequest); 0 means 1.
	pages    int
	pagesSet bool
}

// WithRowsKey names the member of the result that holds the rows, e.g. "items" for
// crm.item.list or "tasks" for tasks.task.list. An empty key means the result is the
// list itself (crm.deal.list, user.get, ...). Without this option, a result that is a
// list, or an object with exactly one member that is a list, is taken as the rows.
func WithRowsKey(key string) ListOption {
	return func(o *listOptions) { o.rowsKey, o.rowsKeySet = key, true }
}

// WithIDField names the identifier Scan walks by: rowField in each row, filterField in
// the filter and order it sends (filterField "" is rowField). tasks.task.list, for
// example, returns "id" but filters and sorts by "ID": WithIDField("id", "ID").
func WithIDField(rowField, filterField string) ListOption {
	return func(o *listOptions) {
		if filterField == "" {
			filterField = rowField
		}
		o.idField, o.filterField = rowField, filterField
	}
}

// WithDescending makes Scan walk from the highest ID down: order ID DESC and filter
// "<ID" = the last ID seen.
func WithDescending() ListOption {
	return func(o *listOptions) { o.desc = true }
}

// WithPagesPerRequest makes List and Scan fetch up to n pages (1..50) in one batch
// request. Scan chains its ID cursor from page to page inside the batch
// ("$result[<prev>][<rows key>][49][<id>]"); List sends the offsets once the first
// page has told the total. Default 1 (one page a request).
//
// The portal's rate limit counts a batch as one request, so n = 50 exports 2,500 rows a
// request instead of 50: 10,000 rows in 5 requests instead of 201. Every row is still
// yielded exactly once and in order; a short page ends the walk (the commands after it
// in the same batch are ignored: the server fed them the deepest value it found, so
// their rows are garbage and never yielded); a page that does not start after the
// previous page's last ID fails with [ErrCursorStalled]; a failed command ends the walk
// with its [*APIError] (Method: the command's method) after the rows before it;
// breaking out of the loop sends no further request. An n outside 1..50 makes the walk
// yield an [ErrValidation] error first and send nothing.
//
// Packing is not the default because it is not better in every case
// (docs/performance.md, "Exports packed into batches", measures it). Within the
// client's burst (47 requests, about 2,350 rows at one page a request) one page a
// request is as fast. At the end of a Scan, the commands after the short page still
// run on the server, so a table smaller than n pages pays up to n pages of server time
// and operating budget. A request of n pages also runs n times longer on the portal,
// which cuts a request at 60 s. Pack exports larger than the burst; with slow pages,
// keep n × (page time) well under 60 s. Packed pages go through [Client.Batch], so the
// operating budget and the rate limiter pace them like any batch.
//
// Packed pages travel as batch commands, whose parameters the server reads from a
// query string: numbers and booleans arrive as strings ("1"/"0"), as they do in any
// [Client.Batch]; nil and empty lists or objects vanish. Each batch is sent with halt,
// so a failing page stops the batch on the server; it is retried like a read (every
// command in it is a list page).
func WithPagesPerRequest(n int) ListOption {
	return func(o *listOptions) { o.pages, o.pagesSet = n, true }
}

// pagesPerRequest checks the WithPagesPerRequest value and returns it (1 when unset).
func (lo listOptions) pagesPerRequest() (int, error) {
	if !lo.pagesSet {
		return 1, nil
	}
	if lo.pages < 1 || lo.pages > MaxBatchCommands {
		return 0, invalid("WithPagesPerRequest", fmt.Sprintf("n must be between 1 and %d, not %d", MaxBatchCommands, lo.pages))
	}
	return lo.pages, nil
}

// listFamily is the shape of a list method whose answer the documentation shows.
type listFamily struct {
	rowsKey     string // "" : the result is the list
	idField     string // the ID in each row
	filterField string // the ID in filter and order
}

// listFamilies are the methods whose shape was checked in the official REST
// documentation (github.com/bitrix24/b24restdocs at 5988ed13, paths below). Methods
// not listed default to a list result (or an object with one list member) and "ID".
var listFamilies = map[string]listFamily{
	// api-reference/crm/universal/crm-item-list.md: {"items": [...]}, "id" a number;
	// settings/performance/huge-data.md walks it with order {"id": "ASC"}, filter {">id": ...}.
	"crm.item.list": {rowsKey: "items", idField: "id", filterField: "id"},
	// api-reference/crm/universal/product-rows/crm-item-productrow-list.md:
	// {"productRows": [...]}, "id"; filter and order take the row's fields.
	"crm.item.productrow.list": {rowsKey: "productRows", idField: "id", filterField: "id"},
	// api-reference/tasks/tasks-task-list.md: {"tasks": [...]}, rows carry "id" (a string),
	// while filter and order name it "ID".
	"tasks.task.list": {rowsKey: "tasks", idField: "id", filterField: "ID"},
	// api-reference/catalog/product/catalog-product-list.md: {"products": [...]}, "id";
	// filter and order take the catalog_product fields.
	"catalog.product.list": {rowsKey: "products", idField: "id", filterField: "id"},
	// api-reference/crm/{deals,leads,contacts,companies}/crm-*-list.md and
	// crm/timeline/activities/activity-base/crm-activity-list.md: a list, "ID" a string;
	// filter with the ">" / "<" prefixes, order {"ID": "ASC"}.
	"crm.deal.list":     {idField: "ID", filterField: "ID"},
	"crm.lead.list":     {idField: "ID", filterField: "ID"},
	"crm.contact.list":  {idField: "ID", filterField: "ID"},
	"crm.company.list":  {idField: "ID", filterField: "ID"},
	"crm.activity.list": {idField: "ID", filterField: "ID"},
	// Protocol reference §6.5 (userfieldtype-list.md): a list of rows without an ID, so
	// List only.
	"userfieldtype.list": {},
}

// newListOptions starts from the method's family, then applies opts.
func newListOptions(method string, opts []ListOption) listOptions {
	lo := listOptions{idField: "ID", filterField: "ID"}
	if f, ok := listFamilies[strings.ToLower(method)]; ok {
		lo.rowsKey, lo.rowsKeySet = f.rowsKey, true
		if f.idField != "" {
			lo.idField, lo.filterField = f.idField, f.filterField
		}
	}
	for _, opt := range opts {
		if opt != nil {
			opt(&lo)
		}
	}
	return lo
}

// rows extracts the rows of a page: the result itself, or its member lo.rowsKey. PHP
// sends an empty list, or an empty object, as [].
func (lo listOptions) rows(method string, result json.RawMessage) ([]json.RawMessage, error) {
	result = bytes.TrimSpace(result)
	if isEmptyJSON(result) {
		return nil, nil
	}
	switch result[0] {
	case '[':
		return decodeRows(method, result)
	case '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(result, &m); err != nil {
			return nil, listShapeError(method, "result is not valid JSON")
		}
		if lo.rowsKeySet && lo.rowsKey != "" {
			v, ok := m[lo.rowsKey]
			if !ok {
				return nil, listShapeError(method, fmt.Sprintf("result has no %q member (set WithRowsKey)", lo.rowsKey))
			}
			if isEmptyJSON(v) {
				return nil, nil
			}
			return decodeRows(method, v)
		}
		if !lo.rowsKeySet && len(m) == 1 {
			for _, v := range m {
				if isEmptyJSON(v) {
					return nil, nil
				}
				if v = bytes.TrimSpace(v); v[0] == '[' {
					return decodeRows(method, v)
				}
			}
		}
	}
	return nil, listShapeError(method, "result is not a list of rows (set WithRowsKey)")
}

func decodeRows(method string, raw json.RawMessage) ([]json.RawMessage, error) {
	var rows []json.RawMessage
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, listShapeError(method, "the rows are not a JSON list")
	}
	return rows, nil
}

func listShapeError(method, reason string) error {
	return &UnexpectedResponseError{Method: method, StatusCode: 200, Reason: reason}
}

// checkIDs verifies that the page's IDs run in Scan's order beyond the last ID seen
// (when there is one) and returns the page's last ID.
func (lo listOptions) checkIDs(method string, rows []json.RawMessage, last ID, haveLast bool, cursorKey string) (ID, error) {
	prev, have := last, haveLast
	for _, row := range rows {
		id, err := lo.rowID(method, row)
		if err != nil {
			return 0, err
		}
		if have && (id <= prev && !lo.desc || id >= prev && lo.desc) {
			return 0, fmt.Errorf("bitrix24: %s: %w: ID %d came after %d (does the method honour filter %q and order %s?)",
				method, ErrCursorStalled, id, prev, cursorKey, lo.filterField)
		}
		prev, have = id, true
	}
	return prev, nil
}

// rowID reads the row's ID field, matching its name case-insensitively if need be.
func (lo listOptions) rowID(method string, row json.RawMessage) (ID, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(row, &m); err != nil {
		return 0, listShapeError(method, "a row is not a JSON object")
	}
	raw, ok := m[lo.idField]
	if !ok {
		for k, v := range m {
			if strings.EqualFold(k, lo.idField) {
				raw, ok = v, true
				break
			}
		}
	}
	if !ok {
		return 0, listShapeError(method, fmt.Sprintf("a row has no %q field (set WithIDField)", lo.idField))
	}
	var id ID
	if err := id.UnmarshalJSON(raw); err != nil {
		return 0, listShapeError(method, fmt.Sprintf("a row's %q is not an integer", lo.idField))
	}
	return id, nil
}
