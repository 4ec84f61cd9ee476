package bitrix24

import (
	"fmt"
	"slices"
)

// Decode decodes the result of the command with the given key into dst, a non-nil
// pointer. PHP encodes an empty map as [], so [] decodes into a map or struct as
// empty (and into a slice as an empty slice).
//
// If the command failed, Decode returns its [*APIError]; if it never ran because halt
// stopped the batch, or no command had that key, an error saying so.
func (r *BatchResult) Decode(key string, dst any) error {
	if err := checkResult("dst", dst); err != nil {
		return err
	}
	if dst == nil {
		return invalid("dst", "must be a non-nil pointer")
	}
	if r == nil {
		return invalid("BatchResult", "is nil")
	}
	if e, ok := r.Errors[key]; ok && e != nil {
		return e
	}
	raw, ok := r.Results[key]
	if !ok {
		if slices.Contains(r.Skipped, key) {
			return fmt.Errorf("bitrix24: batch: command %q did not run (halted at an earlier failure)", key)
		}
		return fmt.Errorf("bitrix24: batch: no result for command %q", key)
	}
	method := "batch command " + key
	return decodeResult(method, raw, dst)
}
