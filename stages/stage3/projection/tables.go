package projection

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/sqlstore"
)

// Tables names the read tables a projection writes: the order rows and
// their history, and on SQLite the order rows' search index (an FTS5 table
// that triggers on the order rows keep; on PostgreSQL the index is on the
// order rows themselves).
type Tables struct {
	Orders  string
	History string
	Search  string
}

// Live is the tables the read model answers from, made by the read side's
// migrations.
var Live = Tables{Orders: "order_views", History: "order_history", Search: "order_views_search"}

// Shadow is where a rebuild fills a fresh copy of the read tables while the
// live ones go on serving; SwapShadow puts it in their place.
var Shadow = Tables{Orders: "order_views_shadow", History: "order_history_shadow", Search: "order_views_shadow_search"}

// pairs are the live tables and t's, for db's dialect: the search index is
// a table of its own only on SQLite.
func (t Tables) pairs(db bun.IDB) [][2]string {
	p := [][2]string{{Live.Orders, t.Orders}, {Live.History, t.History}}
	if sqlstore.DialectName(db) != sqlstore.Postgres {
		p = append(p, [2]string{Live.Search, t.Search})
	}
	return p
}

// CreateShadow drops the shadow tables if they exist and makes them empty,
// exactly like the live tables are now — columns, keys and indexes, whatever
// migrations made them — with every index name's live-table prefix turned
// into the shadow table's name (order_views_newest → order_views_shadow_newest),
// so that SwapShadow can turn them back.
func CreateShadow(ctx context.Context, db *bun.DB) error {
	return createShadow(ctx, db, false)
}

// CreateBareShadow is CreateShadow for a bulk load: the shadow tables get
// their columns and keys but none of their other indexes, nor on SQLite
// the search index's triggers. Filled in bulk (Bulk) and then given their
// indexes at once (IndexShadow), they cost a sort per index rather than an
// index update per row.
func CreateBareShadow(ctx context.Context, db *bun.DB) error {
	return createShadow(ctx, db, true)
}

func createShadow(ctx context.Context, db *bun.DB, bare bool) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for _, p := range Shadow.pairs(tx) {
			live, shadow := p[0], p[1]
			if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+quote(shadow)); err != nil {
				return fmt.Errorf("drop %s: %w", shadow, err)
			}
			var err error
			if sqlstore.DialectName(tx) == sqlstore.Postgres {
				err = copyTablePostgres(ctx, tx, live, shadow)
				if err == nil && bare {
					err = dropIndexesPostgres(ctx, tx, shadow)
				}
			} else {
				err = copyTableSQLite(ctx, tx, live, shadow, bare)
			}
			if err != nil {
				return fmt.Errorf("create %s like %s: %w", shadow, live, err)
			}
		}
		return nil
	})
}

// IndexShadow gives shadow tables made by CreateBareShadow, once filled,
// what they lack of the live tables' schema: on PostgreSQL every index
// under its shadow name; on SQLite the search index, filled from the order
// rows, and the triggers that keep it from then on — the indexes SQLite
// would have to build twice (it cannot rename one) come with SwapShadow.
func IndexShadow(ctx context.Context, db *bun.DB) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if sqlstore.DialectName(tx) == sqlstore.Postgres {
			for _, p := range Shadow.pairs(tx) {
				if err := addIndexesPostgres(ctx, tx, p[0], p[1]); err != nil {
					return fmt.Errorf("index %s: %w", p[1], err)
				}
			}
			return nil
		}
		var triggers int
		if err := tx.NewRaw("SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", Shadow.Orders).
			Scan(ctx, &triggers); err != nil {
			return err
		}
		if triggers == 0 {
			// What the triggers would have written row by row, at once.
			if _, err := tx.ExecContext(ctx, "INSERT INTO "+quote(Shadow.Search)+" (rowid, customer) SELECT rowid, customer FROM "+
				quote(Shadow.Orders)); err != nil {
				return fmt.Errorf("fill %s: %w", Shadow.Search, err)
			}
		}
		// The triggers now, for the syncs that write to the shadow tables
		// before the swap; the indexes at the swap (SwapShadow).
		for _, p := range Shadow.pairs(tx) {
			live, shadow := p[0], p[1]
			defs, err := sqliteDefs(ctx, tx, live)
			if err != nil {
				return err
			}
			prefix := regexp.MustCompile(`\b` + regexp.QuoteMeta(live))
			toShadow := func(sql string) string { return prefix.ReplaceAllLiteralString(sql, shadow) }
			if err := createMissing(ctx, tx, shadow, defs, toShadow, "trigger"); err != nil {
				return fmt.Errorf("index %s: %w", shadow, err)
			}
		}
		return nil
	})
}

// SwapShadow puts the shadow tables in the place of the live ones in one
// transaction: the live tables are dropped, the shadow tables renamed to
// the live names and their indexes renamed to the live indexes' names.
// Readers see either the old tables or the new ones, never neither. On
// SQLite, which cannot rename an index (renameIndexes builds it again), the
// indexes of tables made by CreateBareShadow are built here instead, once,
// under the live names (IndexShadow leaves them to the swap).
func SwapShadow(ctx context.Context, db *bun.DB) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		sqlite := sqlstore.DialectName(tx) != sqlstore.Postgres
		for _, p := range Shadow.pairs(tx) {
			live, shadow := p[0], p[1]
			var liveDefs []sqliteDef
			if sqlite {
				var err error
				if liveDefs, err = sqliteDefs(ctx, tx, live); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, "DROP TABLE "+quote(live)); err != nil {
				return fmt.Errorf("drop %s: %w", live, err)
			}
			if _, err := tx.ExecContext(ctx, "ALTER TABLE "+quote(shadow)+" RENAME TO "+quote(live)); err != nil {
				return fmt.Errorf("rename %s to %s: %w", shadow, live, err)
			}
			if err := renameIndexes(ctx, tx, live, shadow, live); err != nil {
				return fmt.Errorf("rename indexes of %s: %w", live, err)
			}
			if sqlite {
				same := func(sql string) string { return sql }
				if err := createMissing(ctx, tx, live, liveDefs, same, "index"); err != nil {
					return fmt.Errorf("index %s: %w", live, err)
				}
			}
		}
		return nil
	})
}

// copyTableSQLite replays the live table's CREATE statements, which SQLite
// keeps, with the live name replaced by the shadow name; bare, only the
// table's.
func copyTableSQLite(ctx context.Context, tx bun.Tx, live, shadow string, bare bool) error {
	defs, err := sqliteDefs(ctx, tx, live)
	if err != nil {
		return err
	}
	if len(defs) == 0 || defs[0].Type != "table" {
		return fmt.Errorf("no table %s", live)
	}
	prefix := regexp.MustCompile(`\b` + regexp.QuoteMeta(live))
	for _, d := range defs {
		if bare && d.Type != "table" {
			continue
		}
		if _, err := tx.ExecContext(ctx, prefix.ReplaceAllLiteralString(d.SQL, shadow)); err != nil {
			return err
		}
	}
	return nil
}

// sqliteDef is a CREATE statement SQLite keeps in sqlite_master.
type sqliteDef struct {
	Type string `bun:"type"`
	Name string `bun:"name"`
	SQL  string `bun:"sql"`
}

// sqliteDefs returns the CREATE statements of a table, its indexes and its
// triggers, the table's first.
func sqliteDefs(ctx context.Context, tx bun.Tx, table string) ([]sqliteDef, error) {
	var defs []sqliteDef
	err := tx.NewRaw("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL ORDER BY type = 'index', name", table).
		Scan(ctx, &defs)
	return defs, err
}

// createMissing creates on table those of defs — CREATE statements of
// indexes and triggers, each turned into table's by rewrite — of the given
// types that table does not have by name.
func createMissing(ctx context.Context, tx bun.Tx, table string, defs []sqliteDef, rewrite func(string) string, types ...string) error {
	have, err := sqliteDefs(ctx, tx, table)
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for _, d := range have {
		names[d.Name] = true
	}
	for _, d := range defs {
		if !slices.Contains(types, d.Type) || names[rewrite(d.Name)] {
			continue
		}
		if _, err := tx.ExecContext(ctx, rewrite(d.SQL)); err != nil {
			return err
		}
	}
	return nil
}

// dropIndexesPostgres drops a table's indexes but those of its keys
// (primary key, unique constraints).
func dropIndexesPostgres(ctx context.Context, tx bun.Tx, table string) error {
	var names []string
	err := tx.NewRaw(`SELECT i.relname FROM pg_index AS x
		JOIN pg_class AS i ON i.oid = x.indexrelid
		WHERE x.indrelid = CAST(? AS regclass)
		AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = x.indexrelid)`, quote(table)).Scan(ctx, &names)
	if err != nil {
		return err
	}
	for _, name := range names {
		if _, err := tx.ExecContext(ctx, "DROP INDEX "+quote(name)); err != nil {
			return err
		}
	}
	return nil
}

// pgIndexPair is the indexes of the live table and of its shadow, by name.
func pgIndexPair(ctx context.Context, tx bun.Tx, live, shadow string) (liveIdx, shadowIdx map[string]string, err error) {
	if liveIdx, err = pgIndexes(ctx, tx, live); err != nil {
		return nil, nil, err
	}
	if shadowIdx, err = pgIndexes(ctx, tx, shadow); err != nil {
		return nil, nil, err
	}
	return liveIdx, shadowIdx, nil
}

// addIndexesPostgres creates on shadow, under their shadow names, the live
// table's indexes that it lacks, from their definitions.
func addIndexesPostgres(ctx context.Context, tx bun.Tx, live, shadow string) error {
	liveIdx, shadowIdx, err := pgIndexPair(ctx, tx, live, shadow)
	if err != nil {
		return err
	}
	for name, def := range liveIdx {
		want := renamed(name, live, shadow)
		if _, ok := shadowIdx[want]; ok {
			continue
		}
		// def is "CREATE [UNIQUE ]INDEX ON <method and columns>".
		stmt := strings.Replace(def, "INDEX ON ", "INDEX "+quote(want)+" ON "+quote(shadow)+" ", 1)
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

// copyTablePostgres makes the shadow table LIKE the live one, which copies
// its indexes under names PostgreSQL chooses, then renames each to its live
// counterpart's name with the shadow prefix.
func copyTablePostgres(ctx context.Context, tx bun.Tx, live, shadow string) error {
	if _, err := tx.ExecContext(ctx, "CREATE TABLE "+quote(shadow)+" (LIKE "+quote(live)+" INCLUDING ALL)"); err != nil {
		return err
	}
	liveIdx, shadowIdx, err := pgIndexPair(ctx, tx, live, shadow)
	if err != nil {
		return err
	}
	byDef := map[string]string{}
	for name, def := range liveIdx {
		byDef[def] = name
	}
	for name, def := range shadowIdx {
		liveName, ok := byDef[def]
		if !ok {
			return fmt.Errorf("index %s of %s has no counterpart on %s", name, shadow, live)
		}
		want := renamed(liveName, live, shadow)
		if want == name {
			continue
		}
		if _, err := tx.ExecContext(ctx, "ALTER INDEX "+quote(name)+" RENAME TO "+quote(want)); err != nil {
			return err
		}
	}
	return nil
}

var pgIndexHead = regexp.MustCompile(`^CREATE (UNIQUE )?INDEX \S+ ON \S+ `)

// pgIndexes returns a table's indexes by name, each with its definition
// stripped of the index and table names, so that the same index on two
// tables has the same definition.
func pgIndexes(ctx context.Context, tx bun.Tx, table string) (map[string]string, error) {
	var rows []struct {
		Name string `bun:"indexname"`
		Def  string `bun:"indexdef"`
	}
	err := tx.NewRaw("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ?", table).
		Scan(ctx, &rows)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.Name] = pgIndexHead.ReplaceAllString(r.Def, "CREATE ${1}INDEX ON ")
	}
	return out, nil
}

// renameIndexes gives every index of table whose name starts with from a
// name starting with to instead.
func renameIndexes(ctx context.Context, tx bun.Tx, table, from, to string) error {
	if sqlstore.DialectName(tx) == sqlstore.Postgres {
		idx, err := pgIndexes(ctx, tx, table)
		if err != nil {
			return err
		}
		for name := range idx {
			if want := renamed(name, from, to); want != name {
				if _, err := tx.ExecContext(ctx, "ALTER INDEX "+quote(name)+" RENAME TO "+quote(want)); err != nil {
					return err
				}
			}
		}
		return nil
	}
	// SQLite renames a table's automatic indexes with it but cannot rename
	// an index or a trigger (the search index's): drop each named one and
	// create it again under the new name.
	var defs []struct {
		Type string `bun:"type"`
		Name string `bun:"name"`
		SQL  string `bun:"sql"`
	}
	err := tx.NewRaw("SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND tbl_name = ? AND sql IS NOT NULL", table).
		Scan(ctx, &defs)
	if err != nil {
		return err
	}
	for _, d := range defs {
		want := renamed(d.Name, from, to)
		if want == d.Name {
			continue
		}
		if _, err := tx.ExecContext(ctx, "DROP "+strings.ToUpper(d.Type)+" "+quote(d.Name)); err != nil {
			return err
		}
		at := strings.Index(d.SQL, d.Name)
		if at < 0 {
			return fmt.Errorf("index %s: name not in %q", d.Name, d.SQL)
		}
		if _, err := tx.ExecContext(ctx, d.SQL[:at]+want+d.SQL[at+len(d.Name):]); err != nil {
			return err
		}
	}
	return nil
}

// renamed swaps name's prefix from for to; names without it stay.
func renamed(name, from, to string) string {
	if rest, ok := strings.CutPrefix(name, from); ok {
		return to + rest
	}
	return name
}

// quote quotes an identifier for both dialects.
func quote(ident string) string {
	return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"`
}
