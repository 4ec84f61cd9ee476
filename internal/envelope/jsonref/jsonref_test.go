package jsonref

import (
	"errors"
	"testing"
)

func TestDecodeShapes(t *testing.T) {
	env, e, err := Decode([]byte(`{"result":{"a":1},"total":"120","next":50,"time":{"start":1.5,"operating_reset_at":1700000000}}`))
	if err != nil || e != nil || env == nil {
		t.Fatalf("success: %v %v %v", env, e, err)
	}
	if string(env.Result) != `{"a":1}` || env.Total != 120 || !env.HasNext || env.Next != 50 || env.Time.OperatingResetAt != 1700000000 {
		t.Fatalf("envelope %+v", env)
	}
	_, e, _ = Decode([]byte(`{"error":"ERROR_CORE","error_description":"x","argument":"a"}`))
	if e == nil || e.Code != "ERROR_CORE" || e.Argument != "a" {
		t.Fatalf("error %+v", e)
	}
	if _, _, err := Decode([]byte(`<html>`)); !errors.Is(err, ErrNotEnvelope) {
		t.Fatalf("html: %v", err)
	}
}
