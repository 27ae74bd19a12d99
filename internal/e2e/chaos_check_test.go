package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// orderRow is an order as one side holds it, in the fields both sides
// have.
type orderRow struct {
	Status, Customer, Address string
	Version                   int
	Lines                     []lineRow
}

type lineRow struct {
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Quantity       int    `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
}

func (r orderRow) String() string {
	ls := make([]string, len(r.Lines))
	for i, l := range r.Lines {
		ls[i] = fmt.Sprintf("%s×%d@%d", l.SKU, l.Quantity, l.UnitPriceCents)
	}
	return fmt.Sprintf("v%d %s [%s]", r.Version, r.Status, strings.Join(ls, " "))
}

// writeOrders reads every order and its lines from the database of record.
func writeOrders(ctx context.Context, db *bun.DB) (map[string]orderRow, error) {
	out := map[string]orderRow{}
	rows, err := db.QueryContext(ctx, "SELECT id, status, customer, address, version FROM orders")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		var r orderRow
		if err := rows.Scan(&id, &r.Status, &r.Customer, &r.Address, &r.Version); err != nil {
			rows.Close()
			return nil, err
		}
		out[strings.ToLower(id)] = r
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = db.QueryContext(ctx, "SELECT order_id, sku, name, quantity, unit_price_cents FROM order_lines ORDER BY order_id, position")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var l lineRow
		if err := rows.Scan(&id, &l.SKU, &l.Name, &l.Quantity, &l.UnitPriceCents); err != nil {
			return nil, err
		}
		id = strings.ToLower(id)
		r := out[id]
		r.Lines = append(r.Lines, l)
		out[id] = r
	}
	return out, rows.Err()
}

// readOrders reads stage 3's read table: the orders it shows (not the
// tombstones of deleted ones).
func readOrders(ctx context.Context, db *bun.DB) (map[string]orderRow, error) {
	rows, err := db.QueryContext(ctx, "SELECT id, status, customer, address, version, lines FROM order_views WHERE NOT deleted")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]orderRow{}
	for rows.Next() {
		var id, lines string
		var r orderRow
		if err := rows.Scan(&id, &r.Status, &r.Customer, &r.Address, &r.Version, &lines); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(lines), &r.Lines); err != nil {
			return nil, fmt.Errorf("lines of %s: %w", id, err)
		}
		out[strings.ToLower(id)] = r
	}
	return out, rows.Err()
}

// sideDiff is how the read side differs from the database of record.
type sideDiff struct {
	orders  int      // in the database of record
	missing []string // in the database of record, not shown by the read side
	extra   []string // shown by the read side, not in the database of record (deleted, or never there)
	stale   []string // on both, different
}

func (d sideDiff) empty() bool { return len(d.missing)+len(d.extra)+len(d.stale) == 0 }

func (d sideDiff) String() string {
	const show = 20
	var b strings.Builder
	fmt.Fprintf(&b, "%d differences over %d orders: %d missing from the read side, %d shown by the read side but not in the database of record (deleted or never placed), %d stale",
		len(d.missing)+len(d.extra)+len(d.stale), d.orders, len(d.missing), len(d.extra), len(d.stale))
	shown := 0
	for _, part := range []struct {
		what string
		ids  []string
	}{{"missing", d.missing}, {"extra", d.extra}, {"stale", d.stale}} {
		for _, s := range part.ids {
			if shown == show {
				b.WriteString("\n  …")
				return b.String()
			}
			fmt.Fprintf(&b, "\n  %s: %s", part.what, s)
			shown++
		}
	}
	return b.String()
}

// compareSides compares the database of record with stage 3's read
// database row by row: every order and its lines. about, if not nil, says
// what the clients did to an order, for the differences.
func compareSides(ctx context.Context, write, read *bun.DB, about func(id string) string) (sideDiff, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	w, err := writeOrders(ctx, write)
	if err != nil {
		return sideDiff{}, fmt.Errorf("read the database of record: %w", err)
	}
	r, err := readOrders(ctx, read)
	if err != nil {
		return sideDiff{}, fmt.Errorf("read the read database: %w", err)
	}
	d := sideDiff{orders: len(w)}
	for id, wo := range w {
		ro, ok := r[id]
		switch {
		case !ok:
			d.missing = append(d.missing, fmt.Sprintf("%s (database of record: %s)", id, wo))
		case !sameOrder(wo, ro):
			d.stale = append(d.stale, fmt.Sprintf("%s (database of record: %s; read side: %s)", id, wo, ro))
		}
	}
	for id, ro := range r {
		if _, ok := w[id]; !ok {
			d.extra = append(d.extra, fmt.Sprintf("%s (read side: %s)", id, ro))
		}
	}
	if about != nil {
		for _, ids := range [][]string{d.missing, d.extra, d.stale} {
			for i, s := range ids {
				ids[i] = s + "; " + about(strings.Fields(s)[0])
			}
		}
	}
	sort.Strings(d.missing)
	sort.Strings(d.extra)
	sort.Strings(d.stale)
	return d, nil
}

func sameOrder(a, b orderRow) bool {
	if a.Status != b.Status || a.Version != b.Version || a.Customer != b.Customer || a.Address != b.Address || len(a.Lines) != len(b.Lines) {
		return false
	}
	for i := range a.Lines {
		if a.Lines[i] != b.Lines[i] {
			return false
		}
	}
	return true
}

// chaosTally is the summary of a run.
type chaosTally struct {
	sent, accepted, applied, lost, duplicated, unknown, rejected, handledRejected int
	problems                                                                      []string // lost and duplicated effects, each said once
	problemOrders                                                                 []string // the order each problem is about
	rejections                                                                    []string // what rejected commands were told
}

func (t *chaosTally) problem(id, format string, args ...any) {
	if len(t.problems) < 30 {
		t.problems = append(t.problems, fmt.Sprintf(format, args...))
		t.problemOrders = append(t.problemOrders, id)
	}
}

// report lists the problems, each followed by what about says of its
// order (the clients' commands, the app's log of them).
func (t *chaosTally) report(about func(id string) string) string {
	var b strings.Builder
	for i, p := range t.problems {
		fmt.Fprintf(&b, "\n  %s", p)
		if about != nil {
			fmt.Fprintf(&b, "\n      %s", strings.ReplaceAll(about(t.problemOrders[i]), "\n", "\n      "))
		}
	}
	return b.String()
}

// tally decides, for every acknowledged command, whether its effect is in
// the database of record (applied) or not (lost), and finds effects made
// twice (duplicated):
//   - an acknowledged delete: the order is gone;
//   - another synchronous ack at version v: the order is at v or later, or
//     gone through a later delete that was acknowledged or whose outcome is
//     unknown;
//   - a queued command (202): the command handler recorded it (applied or
//     rejected) in processed_commands; applied ones are checked as
//     synchronous acks at the version it made;
//   - duplicated: two acknowledgements of one order at the same version (a
//     version made twice), or an order at a version higher than the
//     commands that could have changed it (acknowledged or unknown) allow.
func tally(ctx context.Context, write *bun.DB, commands []*sentCommand) (chaosTally, error) {
	var t chaosTally
	final, err := writeVersions(ctx, write)
	if err != nil {
		return t, err
	}
	byOrder := map[string][]*sentCommand{}
	for _, c := range commands {
		byOrder[c.order] = append(byOrder[c.order], c)
	}
	for id, cs := range byOrder {
		v, present := final[id]
		// Commands that may have changed the order, and what each made.
		possible := 0
		made := map[int]*sentCommand{}
		for i, c := range cs {
			t.sent++
			switch c.outcome {
			case outUnknown:
				t.unknown++
				possible++
				continue
			case outRejected:
				t.rejected++
				if len(t.rejections) < 10 {
					t.rejections = append(t.rejections, fmt.Sprintf("%s %s: %s", c.name, id, c.detail))
				}
				continue
			}
			t.accepted++
			possible++
			version := c.version
			if c.commandID != "" {
				status, pv, err := processedCommand(ctx, write, c.commandID)
				if err != nil {
					return t, err
				}
				switch status {
				case "":
					t.lost++
					t.problem(id, "lost: %s of order %s accepted (202, command %s) and never handled", c.name, id, c.commandID)
					continue
				case "rejected":
					t.handledRejected++
					possible--
					continue
				}
				version = pv
			}
			ok := false
			switch {
			case c.name == cDelete:
				ok = !present
			case present:
				ok = v >= version
			default:
				// Gone: a later delete must account for it.
				for _, later := range cs[i+1:] {
					ok = ok || (later.name == cDelete && later.outcome != outRejected)
				}
			}
			if ok {
				t.applied++
			} else {
				t.lost++
				t.problem(id, "lost: %s of order %s acknowledged at v%d (%d); the database of record has %s", c.name, id, version, c.status, describeFinal(v, present))
			}
			if c.name != cDelete && version > 0 {
				if prev, dup := made[version]; dup {
					t.duplicated++
					t.problem(id, "duplicated: order %s v%d made by %s (%s) and by %s (%s)", id, version, prev.name, prev.requestID, c.name, c.requestID)
				}
				made[version] = c
			}
		}
		if present && v > possible {
			t.duplicated += v - possible
			t.problem(id, "duplicated: order %s is at v%d, but only %d of its commands could have changed it (acknowledged or unknown)", id, v, possible)
		}
	}
	// Orders nobody placed.
	for id := range final {
		if _, ok := byOrder[id]; !ok {
			t.duplicated++
			t.problem(id, "order %s is in the database of record but no client sent it", id)
		}
	}
	return t, nil
}

func describeFinal(v int, present bool) string {
	if !present {
		return "no such order"
	}
	return fmt.Sprintf("v%d", v)
}

// history says what the clients sent for each order: its acknowledged
// commands in order, each with the API it went to (stage 0's or stages
// 1–3's) and the version it made, for the differences.
func history(commands []*sentCommand, start time.Time) func(id string) string {
	byOrder := map[string][]*sentCommand{}
	for _, c := range commands {
		byOrder[c.order] = append(byOrder[c.order], c)
	}
	return func(id string) string {
		var parts []string
		for _, c := range byOrder[id] {
			api := "stages 1-3"
			if c.stage0 {
				api = "stage 0"
			}
			p := fmt.Sprintf("%s %s on %s at %.1fs", c.outcome, c.name, api, c.at.Sub(start).Seconds())
			if c.version > 0 {
				p += fmt.Sprintf(" (v%d)", c.version)
			}
			parts = append(parts, p)
		}
		if len(parts) == 0 {
			return "no client sent it"
		}
		return "clients: " + strings.Join(parts, ", ")
	}
}

// commandLog says, for a problem's order, every command the clients sent
// for it, one a line: when, what, to which API, the answer, the version it
// made, how long it took, its request ID and the attempts the other API
// turned away; then what logs (nil: none) holds of those requests (the
// app's access log: the stage that answered and how).
func commandLog(commands []*sentCommand, start time.Time, logs func(requestIDs []string) []string) func(id string) string {
	byOrder := map[string][]*sentCommand{}
	for _, c := range commands {
		byOrder[c.order] = append(byOrder[c.order], c)
	}
	return func(id string) string {
		var lines, ids []string
		for _, c := range byOrder[id] {
			l := fmt.Sprintf("%s (%.2fs) %s %s to %s: %d", c.at.UTC().Format("15:04:05.000"), c.at.Sub(start).Seconds(), c.outcome, c.name, apiName(c.stage0), c.status)
			if c.version > 0 {
				l += fmt.Sprintf(" v%d", c.version)
			}
			if c.commandID != "" {
				l += " command " + c.commandID
			}
			l += fmt.Sprintf(" in %d ms, request %s", c.took.Milliseconds(), c.requestID)
			if c.detail != "" {
				l += " (" + c.detail + ")"
			}
			if len(c.rerouted) > 0 {
				l += "; before: " + strings.Join(c.rerouted, ", ")
			}
			lines = append(lines, l)
			ids = append(ids, c.requestID)
			for _, r := range c.rerouted {
				ids = append(ids, strings.Fields(r)[0])
			}
		}
		if len(lines) == 0 {
			return "no client sent it"
		}
		if logs != nil {
			for _, l := range logs(ids) {
				lines = append(lines, "app: "+l)
			}
		}
		return strings.Join(lines, "\n")
	}
}

// orderRecord says what the database of record holds of one order: its
// row, and its change log entries (stage 3's writes; stages 0–2 log none).
func orderRecord(ctx context.Context, write *bun.DB, id string) string {
	var version int
	var status string
	var updated time.Time
	row := "no such order"
	err := write.QueryRowContext(ctx, "SELECT version, status, updated_at FROM orders WHERE lower(CAST(id AS TEXT)) = ?", id).Scan(&version, &status, &updated)
	switch {
	case err == nil:
		row = fmt.Sprintf("v%d %s, updated %s", version, status, updated.UTC().Format("15:04:05.000"))
	case !errors.Is(err, sql.ErrNoRows):
		row = err.Error()
	}
	rows, err := write.QueryContext(ctx, "SELECT order_version, type, occurred_at FROM change_log WHERE lower(CAST(order_id AS TEXT)) = ? ORDER BY order_version", id)
	if err != nil {
		return "database of record: " + row + "; change log: " + err.Error()
	}
	defer rows.Close()
	var logged []string
	for rows.Next() {
		var v int
		var typ string
		var at time.Time
		if err := rows.Scan(&v, &typ, &at); err != nil {
			return "database of record: " + row + "; change log: " + err.Error()
		}
		logged = append(logged, fmt.Sprintf("v%d %s at %s", v, typ, at.UTC().Format("15:04:05.000")))
	}
	if len(logged) > 30 {
		logged = append(logged[:10:10], fmt.Sprintf("… %d more …", len(logged)-20), strings.Join(logged[len(logged)-10:], ", "))
	}
	return "database of record: " + row + "; change log: [" + strings.Join(logged, ", ") + "]"
}
