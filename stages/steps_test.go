package stages_test

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The stages are lessons that stand alone: no stage imports another, and
// each starts as a copy of the one before, so that `diff -r` between
// neighbours is the step. The copies are deliberate. What keeps them honest
// is this test: each stage's README.md lists the files its step changes
// ("## Changed in this step") and the files it carries forward unchanged
// from the stage before ("## Carried forward"); every file of the stage
// must be listed once, and a carried file must equal the previous stage's
// file at the same path, but for the package clause and the import paths
// that name the stage itself. Editing a carried file in one stage only
// fails here: edit it in every stage that carries it, or list it as
// changed.

var stageDirs = []string{"stage0", "stage1", "stage2", "stage3"}

// step is what a stage's README.md says of its files.
type step struct {
	changed, carried, dropped []string
}

var (
	listItem = regexp.MustCompile("^- `([^`]+)`")
	pkgStage = regexp.MustCompile(`(?m)^package stage\d+(_test)?$`)
	selfPath = regexp.MustCompile(`/stages/stage\d+\b`)
)

func readStep(t *testing.T, dir string) step {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatalf("%s: %v (each stage says in README.md which files its step changes and which it carries forward)", dir, err)
	}
	defer f.Close()
	var s step
	var list *[]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## Changed"):
			list = &s.changed
		case strings.HasPrefix(line, "## Carried"):
			list = &s.carried
		case strings.HasPrefix(line, "## Dropped"):
			list = &s.dropped
		case strings.HasPrefix(line, "#"):
			list = nil
		case list != nil:
			if m := listItem.FindStringSubmatch(line); m != nil {
				*list = append(*list, m[1])
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return s
}

// filesOf lists a stage's files, relative to its folder, but its README.
func filesOf(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if rel != "README.md" {
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

// normalized is a file's text with what names its own stage made neutral.
func normalized(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := pkgStage.ReplaceAllString(string(b), "package stage$1")
	return selfPath.ReplaceAllString(s, "/stages/stage")
}

func TestEachStageListsItsStep(t *testing.T) {
	for i, dir := range stageDirs {
		t.Run(dir, func(t *testing.T) {
			s := readStep(t, dir)
			if len(s.changed) == 0 {
				t.Fatalf("%s/README.md lists no changed files: is its heading \"## Changed in this step\"?", dir)
			}
			listed := map[string]string{}
			for _, l := range []struct {
				kind  string
				names []string
			}{{"changed", s.changed}, {"carried forward", s.carried}} {
				for _, n := range l.names {
					if other, ok := listed[n]; ok {
						t.Errorf("%s/README.md lists %s as %s and as %s", dir, n, other, l.kind)
					}
					listed[n] = l.kind
				}
			}
			files := filesOf(t, dir)
			present := map[string]bool{}
			for _, f := range files {
				present[f] = true
				if _, ok := listed[f]; !ok {
					t.Errorf("%s/%s is not in %s/README.md: list it as changed in this step or carried forward", dir, f, dir)
				}
			}
			for n := range listed {
				if !present[n] {
					t.Errorf("%s/README.md lists %s, which %s does not have", dir, n, dir)
				}
			}
			if i == 0 {
				if len(s.carried) > 0 || len(s.dropped) > 0 {
					t.Errorf("stage 0 is the first step: it carries and drops nothing")
				}
				return
			}
			prev := stageDirs[i-1]
			for _, n := range s.carried {
				if !present[n] {
					continue
				}
				want := filepath.Join(prev, filepath.FromSlash(n))
				if _, err := os.Stat(want); err != nil {
					t.Errorf("%s/%s is listed as carried forward, but %s has no such file", dir, n, prev)
					continue
				}
				if normalized(t, filepath.Join(dir, filepath.FromSlash(n))) != normalized(t, want) {
					t.Errorf("%s/%s is carried forward from %s but differs from it: make the same change in both (the copies are the lesson), or list it as changed in this step",
						dir, n, want)
				}
			}
			for _, n := range s.dropped {
				if present[n] {
					t.Errorf("%s/README.md lists %s as dropped, but it is there", dir, n)
				}
				if _, err := os.Stat(filepath.Join(prev, filepath.FromSlash(n))); err != nil {
					t.Errorf("%s/README.md lists %s as dropped, but %s has no such file", dir, n, prev)
				}
			}
		})
	}
}

// TestNoStageImportsAnother keeps each stage a lesson that stands alone:
// what it teaches lives in it, and what none teaches is in internal/.
// Test files count too.
func TestNoStageImportsAnother(t *testing.T) {
	imports := regexp.MustCompile(`"github\.com/staircase/staircase/stages/(stage\d+)[^"]*"`)
	for _, dir := range stageDirs {
		for _, f := range filesOf(t, dir) {
			if !strings.HasSuffix(f, ".go") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f)))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range imports.FindAllStringSubmatch(string(b), -1) {
				if m[1] != dir {
					t.Errorf("%s/%s imports %s: a stage must not import another (copy what it needs: the copies are the lesson)", dir, f, strings.Trim(m[0], `"`))
				}
			}
		}
	}
}
