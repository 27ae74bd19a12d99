// Package migrations holds the SQL migrations of Staircase's databases,
// embedded in the binary and run by bun's migrate: the write side (the
// database of record, shared by every stage) and the read side (stage 3's
// tables made for the screens), each once per dialect.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"

	"github.com/uptrace/bun/migrate"
)

//go:embed write read
var files embed.FS

// Side names a set of migrations.
type Side string

// The two sides.
const (
	Write Side = "write"
	Read  Side = "read"
)

// For returns the migrations of one side for one dialect ("sqlite" or
// "postgres").
func For(side Side, dialect string) (*migrate.Migrations, error) {
	sub, err := fs.Sub(files, string(side)+"/"+dialect)
	if err != nil {
		return nil, fmt.Errorf("migrations %s/%s: %w", side, dialect, err)
	}
	m := migrate.NewMigrations()
	if err := m.Discover(sub); err != nil {
		return nil, fmt.Errorf("discover migrations %s/%s: %w", side, dialect, err)
	}
	return m, nil
}
