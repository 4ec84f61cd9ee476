package bitrix24_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
)

// lateStore is a locked store whose holder of the winning pair saves it late: the pair
// appears on the second read after the token endpoint refused the client.
type lateStore struct {
	*bitrix24.MemoryTokenStore
	key     bitrix24.TokenKey
	mu      sync.Mutex
	refused bool
	reads   int // reads since the refusal
}

func (s *lateStore) refuse() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused = true
}

func (s *lateStore) Load(ctx context.Context, key bitrix24.TokenKey) (bitrix24.Token, error) {
	s.mu.Lock()
	if s.refused {
		s.reads++
		if s.reads == 2 { // the winner's save lands now
			_ = s.MemoryTokenStore.Save(ctx, key, bitrix24.Token{AccessToken: testNewAccess, RefreshToken: testNewRefresh})
		}
	}
	s.mu.Unlock()
	return s.MemoryTokenStore.Load(ctx, key)
}

// With a locked store too, a client refused with invalid_grant re-reads the store for a
// grace period and adopts the pair another holder (one whose lease ran out) saves late.
func TestInvalidGrantRereadsLockedStore(t *testing.T) {
	t.Parallel()
	key := bitrix24.TokenKey{MemberID: "m1"}
	store := &lateStore{MemoryTokenStore: bitrix24.NewMemoryTokenStore(), key: key}
	require.NoError(t, store.Save(context.Background(), key, bitrix24.Token{AccessToken: testAccess, RefreshToken: testRefresh}))
	cfg := testOAuthConfig()
	cfg.Token, cfg.Store, cfg.StoreKey = bitrix24.Token{}, store, key
	c, mt := newOAuthClient(t, cfg, bitrix24.WithRetry(0, 0, 0))
	mt.RegisterResponder(http.MethodPost, testTokenURL, func(req *http.Request) (*http.Response, error) {
		store.refuse()
		return jsonResponder(400, `{"error":"invalid_grant","error_description":"Invalid grant"}`)(req)
	})
	mt.RegisterResponder(http.MethodPost, testPortal+"/rest/server.time", expiredOnce())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, c.Call(ctx, "server.time", nil, nil))
	assert.Equal(t, testNewAccess, c.Token().AccessToken)
}
