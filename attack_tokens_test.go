package bitrix24_test

// Attacks on token pairs (attack round): refresh answers, stores.

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// Hostile member ids and links in the directory: every key stays inside the directory
// in a file of its own; a link loop or a dangling link is an error (never a hang, never
// "not found" for a loop), and a timeout bounds the lock.
func TestAttackFileTokenStoreHostileNamesAndLinks(t *testing.T) {
	dir := t.TempDir()
	s, err := bitrix24.NewFileTokenStore(dir)
	require.NoError(t, err)
	ctx := context.Background()
	ids := []string{"..", "../..", "/", "a/../../b", "a\x00b", "A", "a", strings.Repeat("x", 5000), strings.Repeat("é", 200), "a.b", "a_b", "_h0"}
	for i, id := range ids {
		key := bitrix24.TokenKey{MemberID: id, UserID: i}
		p := s.Path(key)
		require.Equal(t, dir, filepath.Dir(p), "%q stays in the directory", id)
		require.NoError(t, s.Save(ctx, key, bitrix24.Token{AccessToken: "acc" + strconv.Itoa(i), RefreshToken: "ref", MemberID: id}))
	}
	for i, id := range ids {
		got, err := s.Load(ctx, bitrix24.TokenKey{MemberID: id, UserID: i})
		require.NoError(t, err)
		assert.Equal(t, "acc"+strconv.Itoa(i), got.AccessToken, "%q has a file of its own", id)
	}
	_, err = s.Load(ctx, bitrix24.TokenKey{UserID: 1})
	require.ErrorIs(t, err, bitrix24.ErrValidation)

	loop := bitrix24.TokenKey{MemberID: "loop"}
	require.NoError(t, os.Symlink(filepath.Base(s.Path(loop)), s.Path(loop)))
	_, err = s.Load(ctx, loop)
	require.Error(t, err)
	require.NotErrorIs(t, err, bitrix24.ErrTokenNotFound)
	require.Error(t, s.Save(ctx, loop, bitrix24.Token{AccessToken: "a", RefreshToken: "r", MemberID: "loop"}))
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = s.LockToken(lctx, loop)
	require.Error(t, err)

	dangling := bitrix24.TokenKey{MemberID: "dangling"}
	require.NoError(t, os.Symlink(filepath.Join(dir, "gone", "x.json"), s.Path(dangling)))
	_, err = s.Load(ctx, dangling)
	require.ErrorIs(t, err, bitrix24.ErrTokenNotFound)
	require.Error(t, s.Save(ctx, dangling, bitrix24.Token{AccessToken: "a", RefreshToken: "r", MemberID: "dangling"}))
}

// A token answer whose other fields are malformed (expires_in not a number, a member_id
// of the wrong type) still carries a pair bought with a spent refresh token: it is kept,
// and the error says the answer was unexpected.
func TestAttackMalformedTokenAnswerKeepsThePair(t *testing.T) {
	for _, extra := range []string{`"expires_in":"soon"`, `"expires_in":true`, `"expires_in":-5`, `"expires_in":3600.5`,
		`"expires_in":{}`, `"member_id":12`, `"scope":["crm"]`} {
		t.Run(extra, func(t *testing.T) {
			var saved []bitrix24.Token
			cfg := testOAuthConfig()
			cfg.OnTokenRefresh = func(_ context.Context, tok bitrix24.Token) error { saved = append(saved, tok); return nil }
			cfg.Token.Expiry = time.Now().Add(-time.Minute)
			c, mt := newOAuthClient(t, cfg)
			mt.RegisterResponder(http.MethodPost, testTokenURL, jsonResponder(200,
				`{"access_token":"`+testNewAccess+`","refresh_token":"`+testNewRefresh+`",`+extra+`}`))
			mt.RegisterResponder(http.MethodPost, testPortal+"/rest/server.time", jsonResponder(200, `{"result":"x"}`))
			err := c.Call(context.Background(), "server.time", nil, nil)
			require.ErrorIs(t, err, bitrix24.ErrUnexpectedResponse)
			assertNoSecret(t, err.Error(), testNewAccess, testNewRefresh, testAccess, testRefresh, testSecret)
			require.Len(t, saved, 1, "the pair is kept: the old refresh token is spent")
			assert.Equal(t, testNewRefresh, saved[0].RefreshToken)
			require.NoError(t, c.Call(context.Background(), "server.time", nil, nil), "the kept pair works")
		})
	}
}
