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
	env, err := s.c.do(ctx, "user.option.get", map[string]string{"option": key})
	if err != nil || string(env.Result) == "null" {
		return false, err
	}
	return true, decodeResult("user.option.get", env.Result, dst)
}

// GetAll returns every stored key with its raw JSON value (user.option.get without
// "option"); an empty, non-nil map when nothing is stored.
func (s *UserOptionService) GetAll(ctx context.Context) (map[string]json.RawMessage, error) {
	env, err := s.c.do(ctx, "user.option.get", nil)
	if err != nil {
		return nil, err
	}
	all := envelope.Sections(env.Result)
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
