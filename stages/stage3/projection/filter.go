package projection

import (
	"strings"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore"
)

// filter adds a summary query's status, customer search and keyset cursor
// to a select over the orders of tables t aliased as alias. q must be
// normalized.
//
// The search is a case-insensitive substring of the customer, the same
// LIKE as every other stage's, answered from a trigram index: on
// PostgreSQL pg_trgm's GIN index on lower(customer) serves the LIKE itself;
// on SQLite the FTS5 trigram table t.Search narrows the rows to those whose
// customer holds the text's trigrams, and the LIKE decides among them. A
// text shorter than three characters has no trigram: it is a scan either
// way, the LIKE alone.
func filter(sel *bun.SelectQuery, alias string, t Tables, q order.SummaryQuery) *bun.SelectQuery {
	col := func(c string) bun.Ident { return bun.Ident(alias + "." + c) }
	if q.Status != "" {
		sel = sel.Where("? = ?", col("status"), q.Status)
	}
	if s := strings.TrimSpace(q.Q); s != "" {
		s = strings.ToLower(s)
		sel = sel.Where("lower(?) LIKE ? ESCAPE '\\'", col("customer"), "%"+escapeLike(s)+"%")
		if utf8.RuneCountInString(s) >= 3 && t.Search != "" && sqlstore.DialectName(sel.DB()) != sqlstore.Postgres {
			sel = sel.Where("? IN (SELECT rowid FROM ? WHERE ? MATCH ?)", col("rowid"), bun.Ident(t.Search), bun.Ident(t.Search), ftsPhrase(s))
		}
	}
	if q.After != "" {
		c, _ := order.DecodeCursor(q.After) // Normalize checked it
		sel = sel.Where("(? < ? OR (? = ? AND ? < ?))", col("created_at"), c.CreatedAt, col("created_at"), c.CreatedAt, col("id"), c.ID)
	}
	return sel
}

// ftsPhrase quotes s as one FTS5 phrase: with the trigram tokenizer, the
// rows whose text holds s anywhere, whatever its case.
func ftsPhrase(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
