package bitrix24

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// FileTokenStore keeps each token pair in a JSON file of its own under a directory: for
// command-line tools and small deployments whose processes share one machine. Files are
// written atomically (a temporary file, fsync, rename) with mode 0600, and LockToken is
// an advisory file lock (flock), so a refresh happens once across every process that
// uses the same directory.
type FileTokenStore struct {
	dir  string
	file string // set by NewFileTokenStoreAt: the one file every key maps to
}

// NewFileTokenStore returns a store keeping its files under dir, which is created (mode
// 0700) if it does not exist. It fails when it cannot write there (an error matching
// fs.ErrPermission for a directory it may not write): better now than at the first Save,
// right after a refresh spent the old refresh token.
func NewFileTokenStore(dir string) (*FileTokenStore, error) {
	if strings.TrimSpace(dir) == "" {
		return nil, invalid("dir", "must not be empty")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("bitrix24: token store directory: %w", err)
	}
	if err := probeWritable(dir); err != nil {
		return nil, err
	}
	return &FileTokenStore{dir: dir}, nil
}

// probeWritable creates and removes a file in dir.
func probeWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".bitrix24-probe-*")
	if err != nil {
		return fmt.Errorf("bitrix24: the token store cannot write in its directory: %w", err)
	}
	name := f.Name()
	_ = f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("bitrix24: the token store cannot write in its directory: %w", err)
	}
	return nil
}

// NewFileTokenStoreAt returns a store that keeps one pair, whatever its key, in the file
// at path: for a command-line tool whose user names the file. Its directory is created
// (mode 0700) if it does not exist. Writes are atomic and 0600 and the lock is path +
// ".lock", as with [NewFileTokenStore]: pointed at the file a server's directory store
// keeps for a key ([FileTokenStore.Path]), both share that pair and its lock. When path
// is a symbolic link, the pair is written, and locked, where it points.
func NewFileTokenStoreAt(path string) (*FileTokenStore, error) {
	if strings.TrimSpace(path) == "" {
		return nil, invalid("path", "must not be empty")
	}
	target, err := resolveLinks(filepath.Clean(path))
	if err != nil {
		return nil, err
	}
	s, err := NewFileTokenStore(filepath.Dir(target))
	if err != nil {
		return nil, err
	}
	s.file = filepath.Clean(path)
	return s, nil
}

// maxLinks bounds how many symbolic links resolveLinks follows (as the kernel does).
const maxLinks = 40

// resolveLinks follows path while it is a symbolic link and returns the file it leads
// to, which may not exist yet. Writing there, rather than replacing the link with a
// regular file, keeps two stores that meet through a link on one pair and one lock.
func resolveLinks(path string) (string, error) {
	for range maxLinks {
		fi, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return path, nil
		}
		if err != nil {
			return "", fmt.Errorf("bitrix24: token file: %w", err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return path, nil
		}
		target, err := os.Readlink(path)
		if err != nil {
			return "", fmt.Errorf("bitrix24: token file: %w", err)
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(path), target)
		}
		path = filepath.Clean(target)
	}
	return "", fmt.Errorf("bitrix24: token file: too many levels of symbolic links")
}

// Path is the file that holds the pair of key. Its name is built from the key alone
// (never from a token): the member id, encoded reversibly so that distinct keys never
// share a file (letters other than a-z, digits and "-" become "_" and two hex digits;
// a name that would be too long is a SHA-256 instead), and the user id. A store made by
// [NewFileTokenStoreAt] returns its one file for every key.
func (s *FileTokenStore) Path(key TokenKey) string {
	if s.file != "" {
		return s.file
	}
	return filepath.Join(s.dir, encodeMember(key.MemberID)+"."+strconv.Itoa(key.UserID)+".json")
}

// maxEncodedMember keeps file names well below the usual 255-byte limit.
const maxEncodedMember = 128

// encodeMember escapes every byte but a-z, 0-9 and "-" as "_" and two lower-case hex
// digits (upper-case letters too, for file systems that ignore case). Names longer than
// maxEncodedMember become "_h" and the SHA-256 of the id: "_h" never starts an escape.
func encodeMember(member string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(member); i++ {
		c := member[i]
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('_')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	if b.Len() > maxEncodedMember {
		sum := sha256.Sum256([]byte(member))
		return "_h" + fmt.Sprintf("%x", sum)
	}
	return b.String()
}

// target is where the pair of key is read, written and locked: Path with its symbolic
// links resolved.
func (s *FileTokenStore) target(key TokenKey) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	return resolveLinks(s.Path(key))
}

// storedToken is the file format: every exported field of Token, with the expiry as an
// RFC 3339 time (omitted when unknown).
type storedToken struct {
	AccessToken    string     `json:"access_token"`
	RefreshToken   string     `json:"refresh_token"`
	Expiry         *time.Time `json:"expiry,omitempty"`
	Scope          string     `json:"scope,omitempty"`
	MemberID       string     `json:"member_id,omitempty"`
	ClientEndpoint string     `json:"client_endpoint,omitempty"`
	ServerEndpoint string     `json:"server_endpoint,omitempty"`
	UserID         int        `json:"user_id,omitempty"`
}

// Load reads the pair of key, or fails with an error matching [ErrTokenNotFound].
func (s *FileTokenStore) Load(ctx context.Context, key TokenKey) (Token, error) {
	if err := ctx.Err(); err != nil {
		return Token{}, err
	}
	path, err := s.target(key)
	if err != nil {
		return Token{}, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Token{}, fmt.Errorf("bitrix24: no token pair stored under %v: %w", key, ErrTokenNotFound)
	}
	if err != nil {
		return Token{}, fmt.Errorf("bitrix24: reading the token pair under %v: %w", key, err)
	}
	var st storedToken
	if err := json.Unmarshal(data, &st); err != nil {
		// The message of a JSON syntax error quotes no input, but say nothing more anyway.
		return Token{}, fmt.Errorf("bitrix24: the token file of %v is not valid JSON", key)
	}
	t := Token{AccessToken: st.AccessToken, RefreshToken: st.RefreshToken, Scope: st.Scope, MemberID: st.MemberID,
		ClientEndpoint: st.ClientEndpoint, ServerEndpoint: st.ServerEndpoint, UserID: st.UserID}
	if st.Expiry != nil {
		t.Expiry = *st.Expiry
	}
	return t, nil
}

// Save writes the pair of key atomically: readers see the old file or the new one,
// never a part of either, even if the process dies half-way. A symbolic link is
// followed: the file it points to is replaced, not the link.
func (s *FileTokenStore) Save(ctx context.Context, key TokenKey, t Token) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	st := storedToken{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, Scope: t.Scope, MemberID: t.MemberID,
		ClientEndpoint: t.ClientEndpoint, ServerEndpoint: t.ServerEndpoint, UserID: t.UserID}
	if !t.Expiry.IsZero() {
		exp := t.Expiry.UTC()
		st.Expiry = &exp
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("bitrix24: encoding the token pair: %w", err)
	}
	path, err := s.target(key)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("bitrix24: saving the token pair under %v: %w", key, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(append(data, '\n'))
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("bitrix24: saving the token pair under %v: %w", key, err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename durable. Not every platform can fsync a directory; the rename
// itself is atomic all the same.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// Delete removes the pair of key (an uninstalled portal); a missing file is not an error.
func (s *FileTokenStore) Delete(ctx context.Context, key TokenKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	path, err := s.target(key)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("bitrix24: deleting the token pair under %v: %w", key, err)
	}
	return nil
}

// lockPollInterval is how often a waiter retries a lock another process holds.
const lockPollInterval = 10 * time.Millisecond

// LockToken takes an exclusive advisory lock on key's lock file, waiting until it holds
// it or ctx ends. The lock file sits beside the file the pair is written to (where a
// symbolic link points). The operating system releases the lock if the process dies.
func (s *FileTokenStore) LockToken(ctx context.Context, key TokenKey) (func(), error) {
	path, err := s.target(key)
	if err != nil {
		return nil, err
	}
	fl := flock.New(path+".lock", flock.SetPermissions(0o600))
	ok, err := fl.TryLockContext(ctx, lockPollInterval)
	if err != nil || !ok {
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("bitrix24: locking the token pair under %v: %w", key, err)
	}
	return func() { _ = fl.Unlock() }, nil
}
