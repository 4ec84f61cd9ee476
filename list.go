package bitrix24

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"

	"github.com/b24go/bitrix24/internal/envelope"
)

// PageSize is how many rows a Bitrix24 list method returns per page
// (IRestService::LIST_LIMIT); the server does not let a client change it.
const PageSize = 50

// ErrCursorStalled means a walk through a list stopped advancing: [Client.Scan] got a
// page whose IDs were not beyond the last one seen (the method ignores the ID filter or
// order), or [Client.List] got a "next" that was not beyond its "start". The iterator
// ends with this error instead of looping over the same rows.
var ErrCursorStalled = errors.New("bitrix24: list cursor does not advance")

// List walks a *.list method by the server's cursor and yields every row: it sends
// params with "start" (the params' own "start", else 0), then each "next" the server
// answers, until an answer has no "next". Pages are retried like reads (see
// [WithIdempotent]); ctx bounds the whole walk. Break out of the loop to stop early: no
// further request is sent. After an error the iterator stops.
//
// params must encode to a JSON object (a map or a struct), or be nil. A row is the raw
// JSON of one element; decode it with [Rows] or json.Unmarshal. The result may be the
// list itself, or an object holding it (see [WithRowsKey]); an empty result ([]) has no
// rows.
//
// The server counts the matching rows for every page ("total"), which grows slow on
// large tables: for exports, use [Client.Scan]. [WithPagesPerRequest] sends the
// offsets after the first page in batches of up to n pages.
func (c *Client) List(ctx context.Context, method string, params any, opts ...ListOption) iter.Seq2[json.RawMessage, error] {
	return func(yield func(json.RawMessage, error) bool) {
		lo := newListOptions(method, opts)
		pages, err := lo.pagesPerRequest()
		if err != nil {
			yield(nil, err)
			return
		}
		base, err := listParams(method, params)
		if err == nil && pages > 1 {
			err = packable(method, base)
		}
		if err != nil {
			yield(nil, err)
			return
		}
		start := 0
		if raw, ok := base["start"]; ok {
			if n, ok := envelope.Int(raw); ok {
				start = n
			}
		}
		for {
			base["start"] = json.RawMessage(strconv.Itoa(start))
			rows, env, err := c.listPage(ctx, method, base, lo)
			if err != nil {
				yield(nil, err)
				return
			}
			if !yieldRows(yield, rows) {
				return
			}
			if !env.HasNext {
				return
			}
			if env.Next <= start || len(rows) == 0 {
				yield(nil, fmt.Errorf("%w: %w", ErrCursorStalled, &UnexpectedResponseError{Method: method, StatusCode: 200,
					Reason: fmt.Sprintf("paging does not advance (start %d, next %d, %d rows)", start, env.Next, len(rows))}))
				return
			}
			if pages > 1 {
				c.listPacked(ctx, yield, method, base, lo, pages, env.Next, env.Next-start, env.Total)
				return
			}
			start = env.Next
		}
	}
}

// Scan walks a *.list method by ID and yields every row: it sends params with order
// {ID: ASC}, "start" -1 (the server then does not count the rows, so every page costs
// the same however deep the walk) and, after the first page, filter ">ID" = the last
// ID seen, merged into the params' own filter. It stops after a page of fewer than
// [PageSize] rows. This is the documented way to export large tables
// (settings/performance/huge-data.md).
//
// params must encode to a JSON object (a map or a struct), or be nil; its "filter",
// if any, must be an object; its "order", if any, may only repeat the order Scan sends
// (Scan cannot sort otherwise); its "start" is replaced. A ">ID" already in the filter
// bounds the first page, so a walk can resume.
//
// The rows' key and the ID field of the known families are built in: crm.item.list
// ("items", "id"), crm.item.productrow.list ("productRows", "id"), tasks.task.list
// ("tasks", rows "id", filter "ID"), catalog.product.list ("products", "id"), and
// crm.deal.list, crm.lead.list, crm.contact.list, crm.company.list, crm.activity.list
// (a list, "ID"). Other methods default to "ID"; adjust with [WithRowsKey] and
// [WithIDField]. [WithDescending] walks down from the highest ID. Methods whose
// sorting is not an order object (user.get takes "sort" and "order" strings) cannot
// be scanned: use [Client.List].
//
// Scan fails with [ErrCursorStalled] instead of looping when a page's IDs are not all
// beyond the last ID seen, in order: the method ignores the filter or the order. Pages
// are retried like reads; ctx bounds the whole walk; breaking out of the loop sends no
// further request. [WithPagesPerRequest] fetches up to 50 pages a request, the cursor
// chained from page to page inside one batch: for exports larger than the portal's
// burst.
func (c *Client) Scan(ctx context.Context, method string, params any, opts ...ListOption) iter.Seq2[json.RawMessage, error] {
	return func(yield func(json.RawMessage, error) bool) {
		lo := newListOptions(method, opts)
		pages, err := lo.pagesPerRequest()
		if err != nil {
			yield(nil, err)
			return
		}
		base, filter, err := scanParams(method, params, lo)
		if err == nil && pages > 1 {
			err = packable(method, withMember(base, "filter", filter))
		}
		if err != nil {
			yield(nil, err)
			return
		}
		cursorKey := ">" + lo.filterField
		if lo.desc {
			cursorKey = "<" + lo.filterField
		}
		if pages > 1 {
			c.scanPacked(ctx, yield, method, base, filter, lo, pages, cursorKey)
			return
		}
		var last ID
		for page := 0; ; page++ {
			if page > 0 {
				filter[cursorKey] = json.RawMessage(last.String())
			}
			if len(filter) > 0 {
				data, err := json.Marshal(filter)
				if err != nil {
					yield(nil, err)
					return
				}
				base["filter"] = data
			}
			rows, _, err := c.listPage(ctx, method, base, lo)
			if err != nil {
				yield(nil, err)
				return
			}
			next, err := lo.checkIDs(method, rows, last, page > 0, cursorKey)
			if err != nil {
				yield(nil, err)
				return
			}
			if !yieldRows(yield, rows) {
				return
			}
			if len(rows) < PageSize {
				return
			}
			last = next
		}
	}
}

// yieldRows hands a page's rows to yield; false when the loop broke out.
func yieldRows(yield func(json.RawMessage, error) bool, rows []json.RawMessage) bool {
	for _, row := range rows {
		if !yield(row, nil) {
			return false
		}
	}
	return true
}

// listPage requests one page and returns its rows.
func (c *Client) listPage(ctx context.Context, method string, params map[string]json.RawMessage, lo listOptions) ([]json.RawMessage, *envelope.Envelope, error) {
	body, err := json.Marshal(params)
	if err != nil {
		return nil, nil, invalid("params", "cannot be encoded as JSON: "+err.Error())
	}
	ans, err := c.do(ctx, method, json.RawMessage(body), callOptions{idempotent: true})
	if err != nil {
		return nil, nil, err
	}
	rows, err := lo.rows(method, ans.env.Result)
	if err != nil {
		return nil, nil, err
	}
	return rows, ans.env, nil
}

// listParams encodes params once into the members of a JSON object.
func listParams(method string, params any) (map[string]json.RawMessage, error) {
	if err := checkMethod(method); err != nil {
		return nil, err
	}
	data, err := encodeParams(params)
	if err != nil {
		return nil, err
	}
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, invalid("params", "must encode to a JSON object: "+err.Error())
	}
	return m, nil
}

// scanParams is listParams with Scan's order and start, and the params' filter taken
// apart so that the cursor can be merged into it.
func scanParams(method string, params any, lo listOptions) (map[string]json.RawMessage, map[string]json.RawMessage, error) {
	if lo.filterField == "" || lo.idField == "" {
		return nil, nil, invalid("WithIDField", "the ID field must not be empty")
	}
	base, err := listParams(method, params)
	if err != nil {
		return nil, nil, err
	}
	filter := map[string]json.RawMessage{}
	if raw, ok := base["filter"]; ok && !isEmptyJSON(raw) {
		if bytes.TrimSpace(raw)[0] != '{' {
			return nil, nil, invalid("params.filter", "must be a JSON object for Scan")
		}
		if err := json.Unmarshal(raw, &filter); err != nil {
			return nil, nil, invalid("params.filter", err.Error())
		}
	}
	dir := "ASC"
	if lo.desc {
		dir = "DESC"
	}
	if raw, ok := base["order"]; ok && !isEmptyJSON(raw) {
		var order map[string]string
		if json.Unmarshal(raw, &order) != nil || len(order) != 1 {
			return nil, nil, invalid("params.order", fmt.Sprintf("Scan sorts by %s only; leave order out (WithDescending sorts down)", lo.filterField))
		}
		for k, v := range order {
			if !strings.EqualFold(k, lo.filterField) || !strings.EqualFold(v, dir) {
				return nil, nil, invalid("params.order", fmt.Sprintf("Scan sorts by %s %s only; leave order out (WithDescending sorts down)", lo.filterField, dir))
			}
		}
	}
	order, _ := json.Marshal(map[string]string{lo.filterField: dir})
	base["order"] = order
	base["start"] = json.RawMessage("-1")
	delete(base, "filter")
	return base, filter, nil
}

// isEmptyJSON: absent, null, or PHP's [] for an empty map.
func isEmptyJSON(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null" || envelope.IsEmptyList(raw)
}

// Rows decodes each row of a [Client.List] or [Client.Scan] walk into T:
//
//	for deal, err := range bitrix24.Rows[Deal](client.Scan(ctx, "crm.deal.list", params)) { ... }
//
// A row that does not decode ends the walk with the error. PHP's [] for an empty
// object decodes as an empty map or struct.
func Rows[T any](seq iter.Seq2[json.RawMessage, error]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for raw, err := range seq {
			var v T
			if err == nil {
				err = decodeResult("list row", raw, &v)
			}
			if err != nil {
				yield(v, err)
				return
			}
			if !yield(v, nil) {
				return
			}
		}
	}
}
