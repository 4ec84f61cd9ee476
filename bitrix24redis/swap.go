package bitrix24redis

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/b24go/bitrix24"
	"github.com/redis/go-redis/v9"
)

// swapScript stores ARGV[3] under KEYS[1] only if the stored pair still has the access
// and refresh tokens ARGV[1] and ARGV[2] (both empty: nothing may be stored). It
// returns 1 when it stored, 0 when the pair had changed.
var swapScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == false then
  if ARGV[1] ~= '' or ARGV[2] ~= '' then return 0 end
else
  local ok, v = pcall(cjson.decode, cur)
  if not ok or type(v) ~= 'table' or type(v.token) ~= 'table' then return 0 end
  if v.token.AccessToken ~= ARGV[1] or v.token.RefreshToken ~= ARGV[2] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
`)

// SwapToken stores t under key only if the stored pair is still old (the same access
// and refresh tokens; a zero old means nothing stored), in one Lua script; otherwise it
// stores nothing and returns an error matching [bitrix24.ErrTokenChanged]. The client
// saves a refreshed pair this way ([bitrix24.TokenSwapper]), so that a holder whose lease
// ran out never overwrites a newer pair.
func (s *TokenStore) SwapToken(ctx context.Context, key bitrix24.TokenKey, old, t bitrix24.Token) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	data, err := json.Marshal(storedToken{V: storeVersion, Token: plainToken(t)})
	if err != nil {
		return fmt.Errorf("bitrix24redis: encoding the pair of %v: %w", key, bitrix24.ErrValidation)
	}
	n, err := bounded(ctx, func(ctx context.Context) (int64, error) {
		return swapScript.Run(ctx, s.rdb, []string{s.TokenKeyName(key)}, old.AccessToken, old.RefreshToken, data).Int64()
	}, nil)
	if err != nil {
		return s.fail(ctx, "saving", key, err)
	}
	if n == 0 {
		return fmt.Errorf("bitrix24redis: saving the pair of %v: %w", key, bitrix24.ErrTokenChanged)
	}
	return nil
}
