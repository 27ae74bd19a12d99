package sqlstore_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/migrations"
)

// TestAStartThatCrashedLeavesNoLockBehind: a process killed while it
// migrated leaves bun's lock row in place; the next start must not wait on
// it (it used to wait a minute and give up, every time).
func TestAStartThatCrashedLeavesNoLockBehind(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			db, err := sqlstore.Open(ctx, b.URL(t), sqltest.SQLitePath(t))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			m, err := sqlstore.Migrator(ctx, db, migrations.Write)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Lock(ctx); err != nil { // what the crashed process held
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			if err := sqlstore.Migrate(ctx, db, migrations.Write); err != nil {
				t.Fatalf("migrate with a stale lock row: %v", err)
			}
			ms, err := m.MigrationsWithStatus(ctx)
			if err != nil || len(ms.Unapplied()) != 0 || len(ms.Applied()) == 0 {
				t.Fatalf("after migrate: %d applied, %d pending, %v", len(ms.Applied()), len(ms.Unapplied()), err)
			}
		})
	}
}

// holdEnv makes the test binary a helper process that holds a data dir
// until it is killed.
const holdEnv = "STAIRCASE_TEST_HOLD_DATA_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(holdEnv); dir != "" {
		if _, err := sqlstore.LockDataDir(dir); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(3)
		}
		os.Stdout.WriteString("locked\n")
		select {}
	}
	os.Exit(m.Run())
}

// TestADataDirHasOneProcess: a second process on the same data dir is
// refused at once with a message that says why, and a process that dies
// (here by SIGKILL) leaves the dir free for the next.
func TestADataDirHasOneProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	holder := exec.Command(os.Args[0], "-test.run=^$")
	holder.Env = append(os.Environ(), holdEnv+"="+dir)
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := out.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "locked") {
		t.Fatalf("helper did not lock: %q %v", buf[:n], err)
	}

	_, err = sqlstore.LockDataDir(dir)
	if !errors.Is(err, sqlstore.ErrDataDirInUse) || !strings.Contains(err.Error(), "--data-dir") {
		t.Fatalf("second process on the dir: %v", err)
	}

	if err := holder.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = holder.Wait()
	unlock, err := sqlstore.LockDataDir(dir)
	if err != nil {
		t.Fatalf("dir still held after its process died: %v", err)
	}
	unlock()
	again, err := sqlstore.LockDataDir(dir)
	if err != nil {
		t.Fatalf("dir still held after unlock: %v", err)
	}
	again()
}
