package bitrix24

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/b24go/bitrix24/internal/phpquery"
)

// Walks with WithPagesPerRequest(n > 1): up to n pages a request, as the commands of
// one batch, sent through Client.Batch (so they are paced, budgeted and logged like
// any batch) with halt, so that a failing page stops the batch on the server.
//
// Scan chains its cursor inside the batch: page i+1 filters by
// "$result[p<i>][<rows key>][49][<id>]", which the server replaces with the ID of the
// last row of page i (protocol reference §8.2). When page i is short, that path step is
// missing and the server substitutes the deepest value it found (the rows, or the
// whole result section): every command after a short page has garbage for a cursor.
// So the answer is read page by page, in order, and the walk ends at the first short
// page; nothing after it is looked at. A page whose last row does not carry the ID
// under the exact key the next reference names (a case mismatch), or that holds more
// than PageSize rows, makes the rest of the batch unusable too: it is dropped unread
// and the next batch starts from that page's last ID.
//
// List sends the offsets it can compute from the first page ("next" and "total") and
// follows the server's "next" of each page: the walk ends at a page without one, and a
// "next" other than the offset the following command asked for drops the rest of the
// batch, as above.

// pageKey names the i-th page of a packed request: never purely numeric (the server
// would answer its sections as lists), and the "p0" of the documented references.
func pageKey(i int) string { return "p" + strconv.Itoa(i) }

// scanPacked is Scan with up to pages pages a request.
func (c *Client) scanPacked(ctx context.Context, yield func(json.RawMessage, error) bool, method string,
	base, filter map[string]json.RawMessage, lo listOptions, pages int, cursorKey string) {
	var last ID
	seen := false
	idKey := lo.idField
	for {
		n := pages
		if !lo.rowsKeySet || !referable(lo.rowsKey) || !referable(idKey) {
			// The references need the rows' path: the first page shows it. A key the
			// reference syntax cannot hold walks one page a request.
			n = 1
		}
		cmds := make([]BatchCommand, n)
		for i := range cmds {
			f := make(map[string]json.RawMessage, len(filter)+1)
			for k, v := range filter {
				f[k] = v
			}
			switch {
			case i > 0:
				f[cursorKey], _ = json.Marshal(scanReference(pageKey(i-1), lo.rowsKey, idKey))
			case seen:
				f[cursorKey] = json.RawMessage(last.String())
			}
			cmds[i] = BatchCommand{Key: pageKey(i), Method: method, Params: withMember(base, "filter", f)}
		}
		// Only list pages: a request may be sent again after an ambiguous failure.
		res, err := c.batchCall(c.pagesLimit(ctx, len(cmds)), true, true, cmds)
		if err != nil {
			yield(nil, err)
			return
		}
		for _, cmd := range cmds {
			raw, err := c.packedResult(res, cmd.Key, method)
			if err != nil {
				yield(nil, err)
				return
			}
			if !lo.rowsKeySet {
				if key, ok := rowsMember(raw); ok {
					lo.rowsKey, lo.rowsKeySet = key, true
				}
			}
			rows, err := lo.rows(method, raw)
			if err != nil {
				yield(nil, err)
				return
			}
			next, err := lo.checkIDs(method, rows, last, seen, cursorKey)
			if err != nil {
				yield(nil, err)
				return
			}
			if !yieldRows(yield, rows) {
				return
			}
			if len(rows) < PageSize {
				return // a short page: the commands after it ran on garbage
			}
			last, seen = next, true
			// The next command's cursor is what the server found at [49][idKey].
			if key := exactKey(rows[PageSize-1], idKey); len(rows) > PageSize || key != idKey {
				idKey = key
				break
			}
		}
	}
}

// listPacked continues a List walk whose first page (at start) told the step between
// offsets and the total: up to pages offsets a request, from offset.
func (c *Client) listPacked(ctx context.Context, yield func(json.RawMessage, error) bool, method string,
	base map[string]json.RawMessage, lo listOptions, pages, offset, step, total int) {
	for {
		offsets := []int{offset}
		for o := offset + step; len(offsets) < pages && o < total; o += step {
			offsets = append(offsets, o)
		}
		cmds := make([]BatchCommand, len(offsets))
		for i, o := range offsets {
			cmds[i] = BatchCommand{Key: pageKey(i), Method: method, Params: withMember(base, "start", json.RawMessage(strconv.Itoa(o)))}
		}
		// Only list pages: a request may be sent again after an ambiguous failure.
		res, err := c.batchCall(c.pagesLimit(ctx, len(cmds)), true, true, cmds)
		if err != nil {
			yield(nil, err)
			return
		}
		for i, o := range offsets {
			key := cmds[i].Key
			raw, err := c.packedResult(res, key, method)
			if err != nil {
				yield(nil, err)
				return
			}
			rows, err := lo.rows(method, raw)
			if err != nil {
				yield(nil, err)
				return
			}
			if !yieldRows(yield, rows) {
				return
			}
			next, ok := res.Nexts[key]
			if !ok {
				return // the last page
			}
			if next <= o || len(rows) == 0 {
				yield(nil, fmt.Errorf("%w: %w", ErrCursorStalled, &UnexpectedResponseError{Method: method, StatusCode: 200,
					Reason: fmt.Sprintf("paging does not advance (start %d, next %d, %d rows)", o, next, len(rows))}))
				return
			}
			if t, ok := res.Totals[key]; ok {
				total = t
			}
			offset = next
			if i+1 < len(offsets) && next != offsets[i+1] {
				break // the table changed under the walk: the later offsets are stale
			}
		}
	}
}

// packable refuses, before anything is sent, params that a batch command cannot carry
// (keys PHP would read back otherwise) or would change (what Batch refuses: nulls,
// empty lists and objects, too many pairs): the pages after the first travel as batch
// commands, and List sends its first page as JSON, which keeps them.
func packable(method string, params map[string]json.RawMessage) error {
	query, err := phpquery.Encode(params)
	if err != nil {
		return invalid("params", "cannot travel in a batch command (WithPagesPerRequest): "+err.Error())
	}
	return checkBatchParams("params", method, params, query)
}

// pagesLimit bounds the answer of a request of n pages as n requests of one page each
// would be (the limit each), not by the limit of one.
func (c *Client) pagesLimit(ctx context.Context, n int) context.Context {
	return withBodyLimit(ctx, batchBodyLimit(c.opts.maxResponseSize, n))
}

// packedResult is the result of page key, or its error. A page longer than the
// response limit fails, as it would alone.
func (c *Client) packedResult(res *BatchResult, key, method string) (json.RawMessage, error) {
	if e, ok := res.Errors[key]; ok && e != nil {
		return nil, c.annotate(method, e)
	}
	raw, ok := res.Results[key]
	if !ok {
		return nil, &UnexpectedResponseError{Method: method, StatusCode: 200,
			Reason: fmt.Sprintf("the batch answer holds nothing for page %s", key)}
	}
	if limit := c.opts.maxResponseSize; int64(len(raw)) > limit {
		return nil, tooLargeAnswer(c.secrets, method, 200, limit)
	}
	return raw, nil
}

// scanReference is the cursor of the page after page prev: the ID of its 50th row.
func scanReference(prev, rowsKey, idKey string) string {
	var b strings.Builder
	b.WriteString("$result[" + prev + "]")
	if rowsKey != "" {
		b.WriteString("[" + rowsKey + "]")
	}
	b.WriteString("[" + strconv.Itoa(PageSize-1) + "][" + idKey + "]")
	return b.String()
}

// referable reports whether a key can be a step of a reference: the server reads a
// step up to the next "]" and the reference up to the next white space.
func referable(key string) bool {
	return !strings.ContainsAny(key, "[]$ \t\r\n\v\f")
}

// withMember is a shallow copy of m with m[key] = v (v nil or an empty object: without
// key).
func withMember(m map[string]json.RawMessage, key string, v any) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(m)+1)
	for k, val := range m {
		out[k] = val
	}
	switch v := v.(type) {
	case json.RawMessage:
		out[key] = v
	case map[string]json.RawMessage:
		if len(v) == 0 {
			delete(out, key)
			break
		}
		data, _ := json.Marshal(v) // members are valid JSON: they came from json.Unmarshal
		out[key] = data
	}
	return out
}

// rowsMember tells where a page's rows are: "" when the result is the list itself, or
// the name of the object's only member.
func rowsMember(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		return "", true
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || len(m) != 1 {
		return "", false
	}
	for k := range m {
		return k, true
	}
	return "", false
}

// exactKey is the key under which row holds the ID field: want itself, or the member
// that matches it case-insensitively (rowID accepts both; a reference needs the exact
// one). A row that is not an object gives want.
func exactKey(row json.RawMessage, want string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(row, &m) != nil {
		return want
	}
	if _, ok := m[want]; ok {
		return want
	}
	for k := range m {
		if strings.EqualFold(k, want) {
			return k
		}
	}
	return want
}
