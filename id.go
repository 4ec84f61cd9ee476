package bitrix24

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// ID is a Bitrix24 identifier. Bitrix24 sends identifiers as JSON numbers or as quoted
// strings, depending on the method and the portal's version: ID decodes from both (an
// empty string or null is 0) and encodes as a number.
type ID int64

// UnmarshalJSON accepts 42, "42", "" and null.
func (id *ID) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if bytes.Equal(data, []byte("null")) {
		*id = 0
		return nil
	}
	text := data
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return fmt.Errorf("bitrix24: ID: %w", err)
		}
		text = bytes.TrimSpace([]byte(s))
		if len(text) == 0 {
			*id = 0
			return nil
		}
	}
	n, err := strconv.ParseInt(string(text), 10, 64)
	if err != nil {
		if len(text) > 32 {
			text = text[:32]
		}
		return fmt.Errorf("bitrix24: ID: %q is not an integer", text)
	}
	*id = ID(n)
	return nil
}

// MarshalJSON encodes the ID as a JSON number.
func (id ID) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, int64(id), 10), nil
}

// String is the decimal form of the ID.
func (id ID) String() string { return strconv.FormatInt(int64(id), 10) }
