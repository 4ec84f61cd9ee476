package bitrix24redis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/b24go/bitrix24"
	"github.com/redis/go-redis/v9"
)

// TokenStore keeps OAuth token pairs in Redis, shared by every process that uses the same
// prefix: a [bitrix24.TokenStore] and [bitrix24.TokenLocker] for [bitrix24.OAuthConfig].Store.
// Create it with [NewTokenStore]; it is safe for concurrent use.
//
// Keys: prefix + "token:" + id and prefix + "lock:" + id, where id is a hash of the
// member ID followed by ":" and the user ID. Key names hold no token, and the member ID
// is hashed too, so that listing the keys shows nothing that helps to forge an install
// event. Errors name a key as member ID/user ID, never a token. Values are JSON; they
// hold both tokens in clear, so protect the Redis server (ACLs, TLS, no public port) as
// you would a database of credentials.
type TokenStore struct {
	rdb    redis.UniversalClient
	prefix string
	lease  time.Duration
	err    error
}

// DefaultLockLease is how long a token lock lives unless its holder renews it: a holder
// renews every third of the lease while it holds the lock, so a lock whose holder died
// frees itself at most one lease later.
const DefaultLockLease = 5 * time.Second

// storeVersion marks the layout of stored values, so a later layout can read old ones.
const storeVersion = 1

// NewTokenStore keeps pairs under prefix: a [bitrix24.TokenStore] and
// [bitrix24.TokenLocker]. Every key it writes, locks included, starts with prefix; a ':'
// is appended to a non-empty prefix that does not end with one ("bitrix24" and
// "bitrix24:" both give keys "bitrix24:..."). A nil rdb makes every method fail with an
// error matching [bitrix24.ErrValidation].
func NewTokenStore(rdb redis.UniversalClient, prefix string) *TokenStore {
	s := &TokenStore{rdb: rdb, prefix: prefix, lease: DefaultLockLease}
	if prefix != "" && !strings.HasSuffix(prefix, ":") {
		s.prefix += ":"
	}
	if rdb == nil {
		s.err = &bitrix24.ValidationError{Field: "bitrix24redis.NewTokenStore rdb", Rule: "must not be nil"}
	}
	return s
}

// WithLockLease returns a copy of s whose locks live for lease unless renewed (default
// [DefaultLockLease]; at least 100 ms). A shorter lease frees the lock of a dead holder
// sooner and costs more renewals while a lock is held.
func (s *TokenStore) WithLockLease(lease time.Duration) *TokenStore {
	c := *s
	if lease < 100*time.Millisecond && c.err == nil {
		c.err = &bitrix24.ValidationError{Field: "bitrix24redis.TokenStore.WithLockLease", Rule: "must be at least 100ms"}
	}
	c.lease = lease
	return &c
}

// keyID names key's entries without revealing the member ID.
func keyID(key bitrix24.TokenKey) string {
	sum := sha256.Sum256([]byte(key.MemberID))
	return hex.EncodeToString(sum[:16]) + ":" + strconv.Itoa(key.UserID)
}

// TokenKeyName returns the Redis key under which s keeps key's pair, for operators and
// tests; it holds no secret.
func (s *TokenStore) TokenKeyName(key bitrix24.TokenKey) string {
	return s.prefix + "token:" + keyID(key)
}

// LockKeyName returns the Redis key of key's lock.
func (s *TokenStore) LockKeyName(key bitrix24.TokenKey) string {
	return s.prefix + "lock:" + keyID(key)
}

// storedToken is the JSON value of a pair. plainToken has Token's fields without its
// methods, so every exported field is kept, including fields added to Token later.
type storedToken struct {
	V     int        `json:"v"`
	Token plainToken `json:"token"`
}

type plainToken bitrix24.Token

// Load returns the pair stored under key, or an error matching [bitrix24.ErrTokenNotFound]
// when there is none. When Redis cannot be reached the error does not match
// ErrTokenNotFound.
func (s *TokenStore) Load(ctx context.Context, key bitrix24.TokenKey) (bitrix24.Token, error) {
	if err := s.check(ctx, key); err != nil {
		return bitrix24.Token{}, err
	}
	data, err := bounded(ctx, func(ctx context.Context) ([]byte, error) {
		return s.rdb.Get(ctx, s.TokenKeyName(key)).Bytes()
	}, nil)
	if errors.Is(err, redis.Nil) {
		return bitrix24.Token{}, fmt.Errorf("bitrix24redis: no token pair stored under %v: %w", key, bitrix24.ErrTokenNotFound)
	}
	if err != nil {
		return bitrix24.Token{}, s.fail(ctx, "loading", key, err)
	}
	var st storedToken
	if err := json.Unmarshal(data, &st); err != nil || st.V != storeVersion {
		// The error of json says where it failed, not what the secrets are; still, keep
		// the stored bytes out of it.
		return bitrix24.Token{}, fmt.Errorf("bitrix24redis: the pair stored under %v is not in a known format (version %d)", key, st.V)
	}
	return bitrix24.Token(st.Token), nil
}

// Save stores t under key, replacing what was there. Expiry is kept to the nanosecond
// (without its monotonic reading); a zero Expiry stays zero.
func (s *TokenStore) Save(ctx context.Context, key bitrix24.TokenKey, t bitrix24.Token) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	data, err := json.Marshal(storedToken{V: storeVersion, Token: plainToken(t)})
	if err != nil {
		return fmt.Errorf("bitrix24redis: encoding the pair of %v: %w", key, bitrix24.ErrValidation)
	}
	if _, err := bounded(ctx, func(ctx context.Context) (string, error) {
		return s.rdb.Set(ctx, s.TokenKeyName(key), data, 0).Result()
	}, nil); err != nil {
		return s.fail(ctx, "saving", key, err)
	}
	return nil
}

// Delete forgets the pair stored under key (an uninstalled portal). Deleting a key that
// holds nothing is not an error.
func (s *TokenStore) Delete(ctx context.Context, key bitrix24.TokenKey) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	if _, err := bounded(ctx, func(ctx context.Context) (int64, error) {
		return s.rdb.Del(ctx, s.TokenKeyName(key)).Result()
	}, nil); err != nil {
		return s.fail(ctx, "deleting", key, err)
	}
	return nil
}

// check refuses a store that failed to build, an ended ctx, and a key without a member
// id (bitrix24.ErrValidation): two portals keyed that way would share one pair.
func (s *TokenStore) check(ctx context.Context, keys ...bitrix24.TokenKey) error {
	if s.err != nil {
		return s.err
	}
	for _, k := range keys {
		if k.MemberID == "" {
			return fmt.Errorf("bitrix24redis: TokenKey.MemberID must not be empty: %w", bitrix24.ErrValidation)
		}
	}
	return ctx.Err()
}

// fail wraps a Redis error; when ctx ended it wraps ctx's error instead, so that callers
// can match it with errors.Is. Redis errors carry no values, so no secret reaches them.
func (s *TokenStore) fail(ctx context.Context, what string, key bitrix24.TokenKey, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("bitrix24redis: %s the pair of %v: %w (%v)", what, key, cerr, err)
	}
	return fmt.Errorf("bitrix24redis: %s the pair of %v: %w", what, key, err)
}
