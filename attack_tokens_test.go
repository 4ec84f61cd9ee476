package bitrix24_test

// Attacks on token pairs (attack round): refresh answers, stores.

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
)

// A refresh answer naming another portal (member_id) than the pair's is a bad answer:
// the new pair is kept (its refresh token was spent) with the pair's own member id, and
// an error, when one reaches the caller, says the answer was unexpected.
func TestAttackRefreshAnswerWithAnotherMemberID(t *testing.T) {
	t.Parallel()
	store := bitrix24.NewMemoryTokenStore()
	cfg := testOAuthConfig()
	cfg.Token.MemberID = "m1"
	cfg.Token.Expiry = time.Now().Add(-time.Minute)
	cfg.Store = store
	var seen []bitrix24.Token
	cfg.OnTokenRefresh = func(_ context.Context, tok bitrix24.Token) error { seen = append(seen, tok); return nil }
	c, mt := newOAuthClient(t, cfg)
	mt.RegisterResponder(http.MethodPost, testTokenURL, jsonResponder(200,
		`{"access_token":"`+testNewAccess+`","refresh_token":"`+testNewRefresh+`","expires_in":3600,"member_id":"0therPortal"}`))
	mt.RegisterResponder(http.MethodPost, testPortal+"/rest/server.time", jsonResponder(200, `{"result":"x"}`))
	err := c.Call(context.Background(), "server.time", nil, nil)
	if err != nil { // a proactive refresh's error may be absorbed: the new pair is valid
		require.ErrorIs(t, err, bitrix24.ErrUnexpectedResponse)
		assertNoSecret(t, err.Error(), testNewAccess, testNewRefresh, testAccess, testRefresh, testSecret)
	}
	stored, lerr := store.Load(context.Background(), bitrix24.TokenKey{MemberID: "m1"})
	require.NoError(t, lerr)
	assert.Equal(t, testNewRefresh, stored.RefreshToken, "the new pair is kept: the old refresh token is spent")
	assert.Equal(t, "m1", stored.MemberID, "a pair does not change portal on refresh")
	require.Len(t, seen, 1)
	assert.Equal(t, "m1", seen[0].MemberID)
	require.NoError(t, c.Call(context.Background(), "server.time", nil, nil), "the kept pair works")
}
