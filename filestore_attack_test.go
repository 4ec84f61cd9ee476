package bitrix24_test

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
)

// Item 7: member ids that an escaping scheme could fold together keep files of their own.
func TestFileTokenStoreDistinctKeysDistinctFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := bitrix24.NewFileTokenStore(t.TempDir())
	require.NoError(t, err)
	ids := []string{"a.b", "a_b", "a b", "a/b", "A.B", "a_2eb", "../a", "a", string(make([]byte, 300))}
	paths := map[string]string{}
	for i, id := range ids {
		key := bitrix24.TokenKey{MemberID: id}
		p := s.Path(key)
		if prev, ok := paths[p]; ok {
			t.Fatalf("%q and %q share %s", prev, id, p)
		}
		paths[p] = id
		require.NoError(t, s.Save(ctx, key, bitrix24.Token{AccessToken: "a" + string(rune('0'+i)), MemberID: id}))
	}
	for i, id := range ids {
		got, err := s.Load(ctx, bitrix24.TokenKey{MemberID: id})
		require.NoError(t, err)
		assert.Equal(t, "a"+string(rune('0'+i)), got.AccessToken, "%q", id)
	}
	entries, err := os.ReadDir(filepath.Dir(s.Path(bitrix24.TokenKey{MemberID: "x"})))
	require.NoError(t, err)
	assert.Len(t, entries, len(ids), "every file stays inside the directory")
}

// Item 7: a token file reached through a symbolic link is written, and locked, where the
// link points: a CLI and a server that meet through a link share one pair and one lock.
func TestFileTokenStoreFollowsSymlinks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	server, err := bitrix24.NewFileTokenStore(filepath.Join(t.TempDir(), "server"))
	require.NoError(t, err)
	key := bitrix24.TokenKey{MemberID: "m1"}
	require.NoError(t, server.Save(ctx, key, bitrix24.Token{AccessToken: "old", MemberID: "m1"}))

	link := filepath.Join(t.TempDir(), "token.json")
	require.NoError(t, os.Symlink(server.Path(key), link))
	cli, err := bitrix24.NewFileTokenStoreAt(link)
	require.NoError(t, err)
	require.NoError(t, cli.Save(ctx, key, bitrix24.Token{AccessToken: "new", MemberID: "m1"}))

	fi, err := os.Lstat(link)
	require.NoError(t, err)
	assert.NotZero(t, fi.Mode()&fs.ModeSymlink, "the link is still a link")
	got, err := server.Load(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "new", got.AccessToken, "the server sees the CLI's pair")

	unlock, err := server.LockToken(ctx, key)
	require.NoError(t, err)
	held, cancel := context.WithCancel(ctx)
	cancel()
	_, err = cli.LockToken(held, key)
	require.ErrorIs(t, err, context.Canceled, "one lock, at the target")
	unlock()

	// A link inside the directory store is followed too.
	other := filepath.Join(t.TempDir(), "elsewhere.json")
	k2 := bitrix24.TokenKey{MemberID: "m2"}
	require.NoError(t, os.Symlink(other, server.Path(k2)))
	require.NoError(t, server.Save(ctx, k2, bitrix24.Token{AccessToken: "two", MemberID: "m2"}))
	data, err := os.ReadFile(other)
	require.NoError(t, err)
	assert.Contains(t, string(data), `"two"`)
}

// Item 7: a directory the store cannot write is refused at construction, with an error
// matching fs.ErrPermission. As root (who may write anywhere) the check runs in a child
// process that drops to the nobody user.
func TestFileTokenStoreUnwritableDirectory(t *testing.T) {
	if dir := os.Getenv("BITRIX24_UNWRITABLE_DIR"); dir != "" {
		_, err := bitrix24.NewFileTokenStore(dir)
		require.ErrorIs(t, err, fs.ErrPermission)
		_, err = bitrix24.NewFileTokenStoreAt(filepath.Join(dir, "token.json"))
		require.ErrorIs(t, err, fs.ErrPermission)
		return
	}
	base, err := os.MkdirTemp("", "bitrix24-unwritable-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	require.NoError(t, os.Chmod(base, 0o755)) // nobody must reach the test binary's copy
	dir := filepath.Join(base, "ro")
	require.NoError(t, os.Mkdir(dir, 0o555))
	if os.Geteuid() != 0 {
		_, err := bitrix24.NewFileTokenStore(dir)
		require.ErrorIs(t, err, fs.ErrPermission)
		return
	}
	// Root: run this test again as nobody, from a copy of the test binary it can execute.
	exe, err := os.Executable()
	require.NoError(t, err)
	bin := filepath.Join(base, "test.bin")
	data, err := os.ReadFile(exe)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, data, 0o755))
	cmd := exec.Command(bin, "-test.run=^TestFileTokenStoreUnwritableDirectory$", "-test.count=1")
	cmd.Env = append(os.Environ(), "BITRIX24_UNWRITABLE_DIR="+dir, "GOCOVERDIR="+base)
	cmd.Dir = base
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "PASS")
}

// Item 8: an empty member id is refused by every store and by NewOAuthClient with one.
func TestEmptyMemberIDIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fileStore, err := bitrix24.NewFileTokenStore(t.TempDir())
	require.NoError(t, err)
	one, err := bitrix24.NewFileTokenStoreAt(filepath.Join(t.TempDir(), "t.json"))
	require.NoError(t, err)
	for name, s := range map[string]interface {
		bitrix24.TokenStore
		bitrix24.TokenLocker
	}{"memory": bitrix24.NewMemoryTokenStore(), "file": fileStore, "file at": one} {
		empty := bitrix24.TokenKey{UserID: 3}
		require.ErrorIs(t, s.Save(ctx, empty, bitrix24.Token{AccessToken: "x"}), bitrix24.ErrValidation, name)
		_, err := s.Load(ctx, empty)
		require.ErrorIs(t, err, bitrix24.ErrValidation, name)
		_, err = s.LockToken(ctx, empty)
		require.ErrorIs(t, err, bitrix24.ErrValidation, name)
	}

	cfg := testOAuthConfig()
	cfg.Store = bitrix24.NewMemoryTokenStore()
	_, err = bitrix24.NewOAuthClient(cfg)
	require.ErrorIs(t, err, bitrix24.ErrValidation, "no StoreKey and a token without a member id")
	cfg.StoreKey = bitrix24.TokenKey{UserID: 2}
	_, err = bitrix24.NewOAuthClient(cfg)
	require.ErrorIs(t, err, bitrix24.ErrValidation)
	cfg.Token.MemberID = "m1"
	cfg.StoreKey = bitrix24.TokenKey{}
	_, err = bitrix24.NewOAuthClient(cfg)
	require.NoError(t, err, "the token's member id is the default key")
}
