package bitrix24

import (
	"encoding/json"
	"testing"
)

// FuzzOfflinePage: whatever event.offline.get's result holds, decoding it never panics,
// and a decoded page's events carry the page's process_id and non-nil maps.
func FuzzOfflinePage(f *testing.F) {
	f.Add([]byte(`{"process_id":"abc","events":[{"ID":"1","TIMESTAMP_X":"2024-07-18T12:32:31+02:00","EVENT_NAME":"ONCRMLEADADD","EVENT_DATA":false,"EVENT_ADDITIONAL":false,"MESSAGE_ID":"1"}]}`))
	f.Add([]byte(`{"process_id":null,"events":[]}`))
	f.Add([]byte(`{"process_id":7,"events":[{"ID":2,"EVENT_DATA":{"FIELDS":{"ID":5}},"EVENT_ADDITIONAL":[1,2]}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		page, err := decodeOfflinePage(json.RawMessage(raw), "c")
		if err != nil {
			return
		}
		for _, ev := range page.events {
			if ev.Data == nil || ev.Additional == nil {
				t.Fatalf("nil maps in %+v", ev)
			}
			if ev.ProcessID != page.processID || ev.Connector != "c" {
				t.Fatalf("event %+v not of its page %q", ev, page.processID)
			}
		}
	})
}
