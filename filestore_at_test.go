package bitrix24_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
)

// A store on one named file keeps every key in that file, 0600, and shares the pair and
// the lock with a directory store whose file for a key is the same path.
func TestFileTokenStoreAtSharesFileAndLock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "tokens")
	server, err := bitrix24.NewFileTokenStore(dir)
	require.NoError(t, err)
	key := bitrix24.TokenKey{MemberID: "m1", UserID: 0}

	cli, err := bitrix24.NewFileTokenStoreAt(server.Path(key))
	require.NoError(t, err)
	assert.Equal(t, server.Path(key), cli.Path(bitrix24.TokenKey{}), "every key maps to the named file")
	assert.Equal(t, server.Path(key), cli.Path(bitrix24.TokenKey{MemberID: "other", UserID: 9}))

	_, err = cli.Load(ctx, bitrix24.TokenKey{MemberID: "any"})
	require.ErrorIs(t, err, bitrix24.ErrTokenNotFound)
	_, err = cli.Load(ctx, bitrix24.TokenKey{})
	require.ErrorIs(t, err, bitrix24.ErrValidation, "an empty member id is refused even here")

	tok := bitrix24.Token{AccessToken: "a-0123456789", RefreshToken: "r-0123456789", MemberID: "m1"}
	require.NoError(t, cli.Save(ctx, bitrix24.TokenKey{MemberID: "m1", UserID: 5}, tok))
	got, err := server.Load(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, tok, got, "the directory store reads what the file store wrote")
	info, err := os.Stat(cli.Path(key))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	unlock, err := server.LockToken(ctx, key)
	require.NoError(t, err)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = cli.LockToken(cancelled, bitrix24.TokenKey{MemberID: "any"})
	require.ErrorIs(t, err, context.Canceled, "the server's lock holds the file store off")
	unlock()
	unlock2, err := cli.LockToken(ctx, bitrix24.TokenKey{MemberID: "any"})
	require.NoError(t, err)
	unlock2()
}

func TestFileTokenStoreAtNeedsAPath(t *testing.T) {
	t.Parallel()
	_, err := bitrix24.NewFileTokenStoreAt(" ")
	require.ErrorIs(t, err, bitrix24.ErrValidation)
}
