package bitrix24

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The operating-time budget's waits (WithOperatingBudget, WithOperatingWait) report
// through observeOperatingWait.
func TestOperatingWaitReported(t *testing.T) {
	t.Parallel()
	var got []WaitInfo
	c, err := NewWebhookClient("https://portal.example/rest/1/secretcode123/", WithObserver(&Observer{
		OperatingWait: func(_ context.Context, i WaitInfo) { got = append(got, i) },
	}))
	require.NoError(t, err)
	boom := errors.New("ctx ended")
	c.observeOperatingWait(context.Background(), "crm.deal.list", 3*time.Second, nil)
	c.observeOperatingWait(context.Background(), "crm.deal.list", time.Second, boom)
	assert.Equal(t, []WaitInfo{
		{Method: "crm.deal.list", Reason: "operating_time", Duration: 3 * time.Second},
		{Method: "crm.deal.list", Reason: "operating_time", Duration: time.Second, Err: boom},
	}, got)

	plain, err := NewWebhookClient("https://portal.example/rest/1/secretcode123/")
	require.NoError(t, err)
	plain.observeOperatingWait(context.Background(), "crm.deal.list", time.Second, nil) // no observer: nothing
}

func TestNewRequestIDIsFresh(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id := newRequestID()
		require.Len(t, id, 32)
		require.False(t, seen[id])
		seen[id] = true
	}
}
