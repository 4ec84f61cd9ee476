package bitrix24

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/b24go/bitrix24/internal/envelope"
	"github.com/b24go/bitrix24/internal/phpquery"
)

// UserOptionService stores settings of the application per portal user: user.option.set
// and user.option.get. Values are kept per (user of the token, application) and may be
// of any JSON type. It needs an OAuth client: through a webhook Bitrix24 answers
// ACCESS_DENIED "Application context required".
type UserOptionService service

// Set upserts the given keys for the current user and application (user.option.set).
// Keys not given are kept; there is no delete. At least one key is required, and no key
// may be empty.
func (s *UserOptionService) Set(ctx context.Context, options map[string]any) error {
	return (*service)(s).write(ctx, "user.option.set", func() error { return validateOptions(options) },
		map[string]any{"options": options})
}

// Get decodes the value stored under key into dst (user.option.get with "option").
// found is false, and dst untouched, when the key is absent (the server answers null).
// dst may be nil to test for presence only.
func (s *UserOptionService) Get(ctx context.Context, key string, dst any) (found bool, err error) {
	c, err := clientOf((*service)(s))
	if err != nil {
		return false, err
	}
	if key == "" {
		return false, invalid("key", "must not be empty")
	}
	if err := checkResult("dst", dst); err != nil {
		return false, err
	}
	ans, err := c.do(ctx, "user.option.get", map[string]string{"option": key}, callOptions{})
	if err != nil || string(ans.env.Result) == "null" {
		return false, err
	}
	return true, decodeResult("user.option.get", ans.env.Result, dst)
}

// GetAll returns every stored key with its raw JSON value (user.option.get without
// "option"); an empty, non-nil map when nothing is stored.
func (s *UserOptionService) GetAll(ctx context.Context) (map[string]json.RawMessage, error) {
	c, err := clientOf((*service)(s))
	if err != nil {
		return nil, err
	}
	ans, err := c.do(ctx, "user.option.get", nil, callOptions{})
	if err != nil {
		return nil, err
	}
	all := envelope.Sections(ans.env.Result)
	if all == nil {
		all = map[string]json.RawMessage{}
	}
	return all, nil
}

func validateOptions(options map[string]any) error {
	if len(options) == 0 {
		return invalid("options", "must hold at least one key")
	}
	for k := range options {
		if k == "" {
			return invalid("options", "keys must not be empty")
		}
	}
	return nil
}

// SetCommand is the batch form of [UserOptionService.Set], validated the same way and
// more: a batch command is a query string, which carries only strings, and the server
// stores what PHP parsed from it. So every value must be a string, or a non-empty
// object or list of such values: a number or a boolean would be stored as a string, and
// null or an empty object or list would not be stored at all. Such values are refused;
// use Set, which sends JSON and keeps the types.
func (s *UserOptionService) SetCommand(key string, options map[string]any) (BatchCommand, error) {
	if err := validateOptions(options); err != nil {
		return BatchCommand{}, err
	}
	tree := make(map[string]any, len(options))
	for _, k := range slices.Sorted(maps.Keys(options)) {
		field := fmt.Sprintf("options[%q]", k)
		v, err := jsonTree(options[k])
		if err != nil {
			return BatchCommand{}, invalid(field, err.Error())
		}
		if where, what := lostInQuery(v); what != "" {
			return BatchCommand{}, invalid(field+where, what+" in a batch, whose commands are query strings: use UserOption.Set, which keeps JSON types")
		}
		tree[k] = v
	}
	params := map[string]any{"options": tree}
	if _, err := phpquery.EncodeValues(params); err != nil {
		return BatchCommand{}, invalid("options", err.Error())
	}
	return BatchCommand{Key: key, Method: "user.option.set", Params: params}, nil
}

// jsonTree is v as encoding/json sees it, numbers kept as their JSON text.
func jsonTree(v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot be encoded as JSON: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("cannot be encoded as JSON: %w", err)
	}
	return tree, nil
}

// lostInQuery finds the first part of a JSON value that a query string cannot carry as
// it is, and returns where it is (a bracketed path, "" for v itself) and what happens to it.
func lostInQuery(v any) (where, what string) {
	switch v := v.(type) {
	case string:
		return "", ""
	case nil:
		return "", "is null, which would not be stored"
	case bool:
		return "", fmt.Sprintf("is a boolean, which would be stored as the string %q", map[bool]string{true: "1", false: "0"}[v])
	case json.Number:
		return "", fmt.Sprintf("is a number, which would be stored as the string %q", v.String())
	case map[string]any:
		if len(v) == 0 {
			return "", "is an empty object, which would not be stored"
		}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if where, what := lostInQuery(v[k]); what != "" {
				return fmt.Sprintf("[%q]", k) + where, what
			}
		}
	case []any:
		if len(v) == 0 {
			return "", "is an empty list, which would not be stored"
		}
		for i, e := range v {
			if where, what := lostInQuery(e); what != "" {
				return "[" + strconv.Itoa(i) + "]" + where, what
			}
		}
	}
	return "", ""
}

// GetCommand is the batch form of [UserOptionService.Get]: its result is the raw value,
// or null when the key is absent.
func (s *UserOptionService) GetCommand(key, option string) (BatchCommand, error) {
	if option == "" {
		return BatchCommand{}, invalid("option", "must not be empty")
	}
	return BatchCommand{Key: key, Method: "user.option.get", Params: map[string]string{"option": option}}, nil
}
