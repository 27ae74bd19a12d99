// Package stages holds the four stages of the staircase, one package each
// (stage0 … stage3), and their source, embedded, so that the running app
// can show a reader the code of the stage they are looking at and the
// diff from the stage before.
package stages

import (
	"embed"
	"io/fs"
	"strings"
)

//go:embed stage0 stage1 stage2 stage3
var files embed.FS

// Source is the stages' source as it sits in the repository: every path
// starts with "stages/" ("stages/stage2/stage.go"), as the stages'
// descriptions name their packages.
func Source() fs.FS { return underStages{} }

// underStages serves the embedded files under a "stages" folder.
type underStages struct{}

func (underStages) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "stages" {
		return files.Open(".")
	}
	if rest, ok := strings.CutPrefix(name, "stages/"); ok {
		return files.Open(rest)
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}
