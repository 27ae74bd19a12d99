package projection

import (
	"strings"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
)

// filter adds a summary query's status, customer search and keyset cursor
// to a select over orders aliased as alias. q must be normalized.
func filter(sel *bun.SelectQuery, alias string, q order.SummaryQuery) *bun.SelectQuery {
	col := func(c string) bun.Ident { return bun.Ident(alias + "." + c) }
	if q.Status != "" {
		sel = sel.Where("? = ?", col("status"), q.Status)
	}
	if s := strings.TrimSpace(q.Q); s != "" {
		sel = sel.Where("lower(?) LIKE ? ESCAPE '\\'", col("customer"), "%"+escapeLike(strings.ToLower(s))+"%")
	}
	if q.After != "" {
		c, _ := order.DecodeCursor(q.After) // Normalize checked it
		sel = sel.Where("(? < ? OR (? = ? AND ? < ?))", col("created_at"), c.CreatedAt, col("created_at"), c.CreatedAt, col("id"), c.ID)
	}
	return sel
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
