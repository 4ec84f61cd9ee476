package bitrix24

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/b24go/bitrix24/internal/envelope"
	"github.com/b24go/bitrix24/internal/redact"
)

// checkMethod keeps method names to what Bitrix24 accepts, so that no input can change
// the request's path.
func checkMethod(method string) error {
	if method == "" {
		return invalid("method", "must not be empty")
	}
	if len(method) > 128 {
		return invalid("method", "must be at most 128 characters")
	}
	for i := 0; i < len(method); i++ {
		ch := method[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '_') {
			return invalid("method", fmt.Sprintf("%q may contain only letters, digits, '.' and '_'", method))
		}
	}
	// "." and ".." are path segments a URL resolver would fold away; an empty segment
	// names no method either.
	for _, part := range strings.Split(method, ".") {
		if part == "" {
			return invalid("method", fmt.Sprintf("%q must be names separated by single dots, e.g. user.option.get", method))
		}
	}
	return nil
}

// checkResult refuses, before anything is sent, a destination the answer could not be
// decoded into: after the call has run it would be too late (a caller who retries a
// failed crm.item.add would add twice).
func checkResult(field string, dst any) error {
	if dst == nil {
		return nil
	}
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return invalid(field, fmt.Sprintf("must be nil or a non-nil pointer, not %T", dst))
	}
	return nil
}

// encodeParams marshals params once per call; it must be a JSON object (or nothing).
func encodeParams(params any) ([]byte, error) {
	var data []byte
	switch p := params.(type) {
	case nil:
		return []byte("{}"), nil
	case json.RawMessage:
		var buf bytes.Buffer
		if err := json.Compact(&buf, p); err != nil {
			return nil, invalid("params", "is not valid JSON: "+err.Error())
		}
		data = buf.Bytes()
	default:
		var err error
		if data, err = json.Marshal(params); err != nil {
			return nil, invalid("params", "cannot be encoded as JSON: "+err.Error())
		}
	}
	if bytes.Equal(data, []byte("null")) {
		return []byte("{}"), nil
	}
	if len(data) < 2 || data[0] != '{' {
		return nil, invalid("params", "must encode to a JSON object")
	}
	return data, nil
}

// withAuth appends "auth" as the object's last key: if params held its own "auth", PHP's
// json_decode keeps the last one, so ours wins.
func withAuth(params []byte, token string) []byte {
	if token == "" {
		return params
	}
	return withKey(params, "auth", token)
}

// withKey appends key: value (a string) as the object's last key, so that it wins over
// the same key in params (PHP's json_decode keeps the last). key is a plain ASCII name.
func withKey(params []byte, key, value string) []byte {
	body := make([]byte, 0, len(params)+len(key)+len(value)+8)
	body = append(body, params[:len(params)-1]...)
	if len(params) > 2 {
		body = append(body, ',')
	}
	body = append(body, '"')
	body = append(body, key...)
	body = append(body, `":`...)
	body = appendJSONString(body, value)
	return append(body, '}')
}

func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if ch := s[i]; ch < 0x20 || ch == '"' || ch == '\\' || ch >= 0x80 {
			quoted, _ := json.Marshal(s)
			return append(dst, quoted...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// decodeResult decodes raw into dst. PHP encodes an empty map as [], so [] into a map or
// struct means empty rather than a type error.
func decodeResult(method string, raw json.RawMessage, dst any) error {
	if dst == nil {
		return nil
	}
	if envelope.IsEmptyList(raw) {
		v := reflect.ValueOf(dst)
		if v.Kind() == reflect.Pointer && !v.IsNil() {
			switch e := v.Elem(); e.Kind() {
			case reflect.Map:
				e.Set(reflect.MakeMap(e.Type()))
				return nil
			case reflect.Struct:
				return nil
			}
		}
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("bitrix24: %s: decoding result: %w", method, err)
	}
	return nil
}

// decodeAnswer turns an HTTP answer into the envelope, or the error it carries. It looks
// for an "error" key whatever the status: Bitrix24 sends some errors with 200.
func decodeAnswer(secrets *redact.Secrets, method string, ans *httpAnswer, maxBody int64) (*envelope.Envelope, error) {
	status := ans.status
	if int64(len(ans.body)) > maxBody {
		return nil, tooLargeAnswer(secrets, method, status, maxBody)
	}
	if status >= 300 && status < 400 {
		return nil, unexpectedAnswer(secrets, method, status, "redirect not followed (another host, or the portal moved)", nil)
	}
	env, apiErr, err := envelope.Decode(ans.body)
	switch {
	case apiErr != nil:
		return nil, apiError(secrets, method, status, apiErr.Code, apiErr.Description, apiErr.Argument)
	case err != nil:
		return nil, unexpectedAnswer(secrets, method, status, err.Error(), ans.body)
	case status >= 300:
		return nil, unexpectedAnswer(secrets, method, status, "a result with an error status", ans.body)
	}
	return env, nil
}
