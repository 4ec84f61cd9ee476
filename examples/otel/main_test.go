package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// The example prints the spans of the quickstart's calls, then the metrics.
func TestExamplePrintsSpansAndMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	spans, metrics, ok := strings.Cut(text, "== metrics")
	if !ok {
		t.Fatalf("no metrics section in:\n%s", text)
	}
	for _, want := range []string{
		`"Name": "user.option.set"`, `"Name": "userfieldtype.delete"`, `"Name": "batch"`,
		`"Value": "quickstart-options"`, `"Value": "ERROR_NOT_FOUND"`, `"Name": "bitrix24.retry"`,
		`"Name": "bitrix24.token.refresh"`, `"Key": "bitrix24.autobatch.size"`,
	} {
		if !strings.Contains(spans, want) {
			t.Errorf("the spans lack %s", want)
		}
	}
	for _, want := range []string{
		"bitrix24.client.calls", "bitrix24.client.call.duration", "bitrix24.client.retries",
		"bitrix24.client.limiter.wait", "bitrix24.client.token.refreshes", "bitrix24.client.operating",
		"bitrix24.client.batch.size",
	} {
		if !strings.Contains(metrics, `"Name": "`+want+`"`) {
			t.Errorf("the metrics lack %s", want)
		}
	}
}
