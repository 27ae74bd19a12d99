package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFlagsWorkWhereverTheyAreTyped: a flag after a command's words is
// read, not silently ignored (migrating ./data instead of the folder the
// user named), and words where a command takes none are refused.
func TestFlagsWorkWhereverTheyAreTyped(t *testing.T) {
	ctx := context.Background()
	wd := t.TempDir()
	t.Chdir(wd)
	t.Setenv("STAIRCASE_DATA_DIR", "")
	os.Unsetenv("STAIRCASE_DATA_DIR") // the default, ./data, is what must stay untouched
	t.Run("migrate_up_then_data_dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "elsewhere")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		if err := run(ctx, []string{"migrate", "up", "--data-dir", dir}, &out, &errOut); err != nil {
			t.Fatalf("migrate: %v\n%s", err, errOut.String())
		}
		for _, f := range []string{"write.db", "read.db"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("%s not in the named data dir: %v", f, err)
			}
		}
		if _, err := os.Stat(filepath.Join(wd, "data")); !os.IsNotExist(err) {
			t.Errorf("./data was touched: %v", err)
		}
		if !strings.Contains(out.String(), "0 pending") {
			t.Errorf("status after up: %s", out.String())
		}
	})
	t.Run("words_after_a_double_dash_are_words", func(t *testing.T) {
		var out, errOut bytes.Buffer
		err := run(ctx, []string{"migrate", "--data-dir", t.TempDir(), "--", "--data-dir"}, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "up or status") {
			t.Fatalf("migrate -- --data-dir: %v", err)
		}
	})
	for _, args := range [][]string{
		{"serve", "--stage", "1", "extra"},
		{"rebuild", "now"},
		{"bench", "--duration", "1s", "report"},
		{"migrate", "up", "status"},
	} {
		t.Run("refused_"+strings.Join(args, "_"), func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := run(ctx, args, &out, &errOut); err == nil {
				t.Fatalf("%q accepted", args)
			}
			if _, err := os.Stat(filepath.Join(wd, "data")); !os.IsNotExist(err) {
				t.Errorf("%q touched ./data: %v", args, err)
			}
		})
	}
}

func TestAPITokensComeFromTheFlagOrAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte("# readers\nr1:orders:read\n\nw1:orders:write+orders:read, a1:admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readAPITokens("@" + file)
	if err != nil || len(got) != 3 || got[0].Token != "r1" || got[2].Token != "a1" || len(got[1].Scopes) != 2 {
		t.Fatalf("from a file: %+v, %v", got, err)
	}
	if got, err := readAPITokens("r1:orders:read"); err != nil || len(got) != 1 {
		t.Fatalf("from the flag: %+v, %v", got, err)
	}
	if _, err := readAPITokens("r1:orders:delete"); err == nil {
		t.Error("an unknown scope was accepted")
	}
	if _, err := readAPITokens("@" + file + ".missing"); err == nil {
		t.Error("a missing file was accepted")
	}
}
