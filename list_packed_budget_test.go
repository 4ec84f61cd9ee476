package bitrix24_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// Packed pages spend a method's operating time n times faster than single ones, and wait
// under WithOperatingBudget as single ones do: 14 pages of 40 s each, two a request, run
// 480 s of crm.item.list by the sixth request; the seventh waits for the reset instead of
// being refused with OPERATION_TIME_LIMIT.
func TestPackedScanWaitsUnderTheOperatingBudget(t *testing.T) {
	t.Parallel()
	for _, budget := range []bool{true, false} {
		srv := bitrix24test.NewServer(bitrix24test.WithRateLimit(0, 0),
			bitrix24test.WithScope(bitrix24test.DefaultScope+",crm"))
		t.Cleanup(srv.Close)
		srv.SeedCRMItems(2, 700)
		srv.SetMethodCost("crm.item.list", 40*time.Second)
		synctest.Test(t, func(t *testing.T) {
			opts := []bitrix24.Option{bitrix24.WithHTTPClient(srv.InProcessClient()), bitrix24.WithRateLimit(0, 0)}
			if !budget {
				opts = append(opts, bitrix24.WithOperatingBudget(0))
			}
			c, err := bitrix24.NewOAuthClient(srv.OAuthConfig(), opts...)
			require.NoError(t, err)
			start := time.Now()
			rows, requests := 0, srv.Calls("batch")
			var walkErr error
			for _, err := range bitrix24.Rows[crmRow](c.Scan(context.Background(), "crm.item.list",
				map[string]any{"entityTypeId": 2}, bitrix24.WithPagesPerRequest(2))) {
				if err != nil {
					walkErr = err
					break
				}
				rows++
			}
			if !budget {
				require.ErrorIs(t, walkErr, bitrix24.ErrOperationTimeLimit, "without the budget the portal refuses")
				assert.Equal(t, 600, rows, "the rows before the refusal")
				return
			}
			require.NoError(t, walkErr)
			assert.Equal(t, 700, rows)
			// 14 full pages in 7 requests, and an 8th that finds the end.
			assert.Equal(t, 8, srv.Calls("batch")-requests)
			assert.Equal(t, 0, srv.OperationTimeLimitRefusals())
			assert.Equal(t, start.Add(10*time.Minute), time.Now(), "the seventh request waited for the reset")
		})
	}
}
