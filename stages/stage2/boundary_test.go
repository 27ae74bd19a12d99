package stage2_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/staircase/staircase/stages/stage2/"

// TestReadAndWriteSidesDoNotImportEachOther keeps the two models apart: the
// read side must not reach for the aggregate's repository, nor the write
// side for the read model's DTO queries. Test files count too.
func TestReadAndWriteSidesDoNotImportEachOther(t *testing.T) {
	for dir, forbidden := range map[string]string{"query": "command", "command": "query"} {
		imports := importsOf(t, dir)
		if len(imports) == 0 {
			t.Fatalf("found no imports in %s: is the test looking in the right place?", dir)
		}
		for file, paths := range imports {
			for _, p := range paths {
				if p == module+forbidden || strings.HasPrefix(p, module+forbidden+"/") {
					t.Errorf("%s imports %s: the %s side must not depend on the %s side", file, p, dir, forbidden)
				}
			}
		}
	}
}

// importsOf returns the import paths of every Go file in dir, by file.
func importsOf(t *testing.T, dir string) map[string][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	fset := token.NewFileSet()
	for _, f := range files {
		ast, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatal(err)
			}
			out[f] = append(out[f], p)
		}
	}
	return out
}
