package bitrix24_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24/bitrix24test"
)

// The README's bitrix24test snippet, kept compiling and true.
func TestReadmeFakeSnippet(t *testing.T) {
	ctx := context.Background()
	srv := bitrix24test.New(t)
	client := srv.NewClient()
	srv.InjectFault("user.option.set", 1, bitrix24test.FaultHTML(502))
	require.NoError(t, client.UserOption.Set(ctx, map[string]any{"theme": "dark"}))
	sets := srv.RequestLog().ForMethod("user.option.set")
	require.Len(t, sets, 2)
	require.Equal(t, 502, sets[0].Status)
}
