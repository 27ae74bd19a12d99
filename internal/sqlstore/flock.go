package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// errLocked is tryLockFile's answer when another process holds the lock.
var errLocked = errors.New("locked by another process")

// tryLockFile takes an exclusive flock on path (made if missing) if no
// other process holds it, and returns its release; errLocked if one does.
// The kernel releases the lock when the process dies, however it dies.
func tryLockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errLocked
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// lockFile takes the flock of tryLockFile, waiting while another process
// holds it, until ctx ends.
func lockFile(ctx context.Context, path string) (func(), error) {
	for wait := 5 * time.Millisecond; ; wait = min(wait*2, 200*time.Millisecond) {
		unlock, err := tryLockFile(path)
		if !errors.Is(err, errLocked) {
			return unlock, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// ErrDataDirInUse is returned by LockDataDir when another process holds
// the data directory.
var ErrDataDirInUse = errors.New("the data directory is in use by another staircase process")

// LockDataDir takes the data directory for this process's life (it is
// made if missing): two processes writing the same SQLite files and the
// same embedded NATS store corrupt the store. A second process gets
// ErrDataDirInUse at once instead of waiting. The returned func releases
// the directory; so does the process's death.
func LockDataDir(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	unlock, err := tryLockFile(filepath.Join(dir, "staircase.lock"))
	if errors.Is(err, errLocked) {
		return nil, fmt.Errorf("%w (%s): stop it, or give this one another --data-dir", ErrDataDirInUse, dir)
	}
	return unlock, err
}
