package bitrix24

import (
	"context"
	"encoding/json"

	"github.com/b24go/bitrix24/internal/envelope"
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
	if err := validateOptions(options); err != nil {
		return err
	}
	return s.c.Call(ctx, "user.option.set", map[string]any{"options": options}, nil)
}

// Get decodes the value stored under key into dst (user.option.get with "option").
// found is false, and dst untouched, when the key is absent (the server answers null).
// dst may be nil to test for presence only.
func (s *UserOptionService) Get(ctx context.Context, key string, dst any) (found bool, err error) {
	if key == "" {
		return false, invalid("key", "must not be empty")
	}
	if err := checkResult("dst", dst); err != nil {
		return false, err
	}
	ans, err := s.c.do(ctx, "user.option.get", map[string]string{"option": key}, callOptions{})
	if err != nil || string(ans.env.Result) == "null" {
		return false, err
	}
	return true, decodeResult("user.option.get", ans.env.Result, dst)
}

// GetAll returns every stored key with its raw JSON value (user.option.get without
// "option"); an empty, non-nil map when nothing is stored.
func (s *UserOptionService) GetAll(ctx context.Context) (map[string]json.RawMessage, error) {
	ans, err := s.c.do(ctx, "user.option.get", nil, callOptions{})
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

// SetCommand is the batch form of [UserOptionService.Set], validated the same way.
func (s *UserOptionService) SetCommand(key string, options map[string]any) (BatchCommand, error) {
	if err := validateOptions(options); err != nil {
		return BatchCommand{}, err
	}
	return BatchCommand{Key: key, Method: "user.option.set", Params: map[string]any{"options": options}}, nil
}

// GetCommand is the batch form of [UserOptionService.Get]: its result is the raw value,
// or null when the key is absent.
func (s *UserOptionService) GetCommand(key, option string) (BatchCommand, error) {
	if option == "" {
		return BatchCommand{}, invalid("key", "must not be empty")
	}
	return BatchCommand{Key: key, Method: "user.option.get", Params: map[string]string{"option": option}}, nil
}
