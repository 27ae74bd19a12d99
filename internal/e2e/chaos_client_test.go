package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
)

// The commands the chaos clients send, by their stage 1–3 names.
const (
	cPlace   = "place-order"
	cLines   = "change-order-lines"
	cShip    = "ship-order"
	cDeliver = "deliver-order"
	cCancel  = "cancel-order"
	cDelete  = "delete-order"
)

// The outcomes of a command as its client saw them.
const (
	outAcked    = "acked"    // 2xx: applied (sync) or accepted (202)
	outUnknown  = "unknown"  // no answer, a 5xx, a timeout: maybe applied, maybe not
	outRejected = "rejected" // a 4xx from the command's handler: not applied
)

// sentCommand is one command a client sent and what came back.
type sentCommand struct {
	client    int
	order     string
	name      string
	outcome   string
	status    int    // HTTP status (0: no answer)
	version   int    // sync ack: the version it made (ETag, or the body's in stage 0)
	commandID string // 202 Accepted: the command's ID
	stage0    bool   // sent to stage 0's /api/orders
	detail    string // why it was not acknowledged
	at        time.Time
	// requestID is the X-Request-ID the command was sent with, which the
	// app's access log repeats; rerouted lists the earlier attempts that the
	// other API's stage turned away ("stage N is active").
	requestID string
	rerouted  []string
	took      time.Duration // from sending to the answer (or the error)
}

// chaosLoad is what every client sent and got.
type chaosLoad struct {
	db  *bun.DB // the database of record, read for queued commands' outcomes
	app *chaosApp
	// webs, when set, take the commands instead of app, in turn.
	webs  []interface{ url() string }
	turn  atomic.Int64
	quota int64 // commands to send in all
	// interval paces the clients together: one command per interval at
	// most, so that the load spans the faults.
	interval time.Duration
	paceMu   sync.Mutex
	next     time.Time

	sent      atomic.Int64 // commands that reached a stage's handler (rerouted 404s excluded)
	rerouted  atomic.Int64 // answers "stage N is active" that sent a command to the other API
	stage0API atomic.Bool  // the clients' guess at the active API

	mu       sync.Mutex
	commands []*sentCommand
}

func (l *chaosLoad) record(c *sentCommand) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.commands = append(l.commands, c)
}

// pace sets the interval between commands (0: as fast as the clients go).
func (l *chaosLoad) pace(interval time.Duration) {
	l.paceMu.Lock()
	defer l.paceMu.Unlock()
	l.interval = interval
}

// take waits for the next slot of the pace and reserves one command of
// the quota; false once it is spent.
func (l *chaosLoad) take(ctx context.Context) bool {
	l.paceMu.Lock()
	slot := time.Now()
	if slot.Before(l.next) {
		slot = l.next
	}
	l.next = slot.Add(l.interval)
	l.paceMu.Unlock()
	sleep(ctx, time.Until(slot))
	if ctx.Err() != nil {
		return false
	}
	if l.sent.Add(1) > l.quota {
		l.sent.Add(-1)
		return false
	}
	return true
}

// url is where the next command goes: app, or the next of webs.
func (l *chaosLoad) url() string {
	if len(l.webs) > 0 {
		return l.webs[int(l.turn.Add(1))%len(l.webs)].url()
	}
	return l.app.url()
}

// progress is the share of the quota sent.
func (l *chaosLoad) progress() float64 {
	return float64(l.sent.Load()) / float64(l.quota)
}

// chaosClient is one of the clients: it walks one order at a time through
// a random life (place, maybe change its lines, then ship and deliver,
// ship, cancel, cancel and delete, delete, or nothing more) and moves on to
// a new order when the life ends or when it no longer knows the order's
// state (an unknown or rejected outcome).
type chaosClient struct {
	n    int
	load *chaosLoad
	rng  *rand.Rand
	http *http.Client
	sent int // requests sent, for their IDs
	// lines are the lines the client last sent for its order.
	lines []map[string]any
}

func (c *chaosClient) run(ctx context.Context) {
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		if !c.life(ctx, &backoff) {
			return
		}
	}
}

// life runs one order's life; false when the quota is spent.
func (c *chaosClient) life(ctx context.Context, backoff *time.Duration) bool {
	id := order.NewID().String()
	steps := []string{cPlace}
	for range c.rng.IntN(3) {
		steps = append(steps, cLines)
	}
	switch r := c.rng.IntN(100); {
	case r < 30:
		steps = append(steps, cShip, cDeliver)
	case r < 45:
		steps = append(steps, cShip)
	case r < 60:
		steps = append(steps, cCancel)
	case r < 75:
		steps = append(steps, cCancel, cDelete)
	case r < 90:
		steps = append(steps, cDelete)
	}
	for _, name := range steps {
		if !c.load.take(ctx) {
			return false
		}
		sc := c.send(ctx, id, name)
		c.load.record(sc)
		if sc.outcome == outAcked && sc.commandID != "" {
			// Queued: follow it to its outcome before the next command, as
			// a client that must know the order's state does.
			if !c.follow(ctx, sc) {
				return true
			}
		}
		if sc.outcome != outAcked {
			// Back off while the app or its database is away.
			if sc.outcome == outUnknown {
				*backoff = min(max(2**backoff, 100*time.Millisecond), 5*time.Second)
				sleep(ctx, *backoff)
			}
			return true
		}
		*backoff = 0
	}
	return true
}

// follow waits until a queued command is handled, reading its row in the
// database of record (processed_commands) — the command status API exists
// only while stage 3 is active. False when the order's state is no longer
// known: the command was rejected, or it did not come through in time (the
// final check tells whether it was lost).
func (c *chaosClient) follow(ctx context.Context, sc *sentCommand) bool {
	deadline := time.Now().Add(90 * time.Second)
	for wait := 20 * time.Millisecond; time.Now().Before(deadline) && ctx.Err() == nil; wait = min(2*wait, 500*time.Millisecond) {
		status, _, err := processedCommand(ctx, c.load.db, sc.commandID)
		if err == nil && status != "" {
			return status == "applied"
		}
		sleep(ctx, wait)
	}
	return false
}

// processedCommand reads a queued command's outcome: "" while queued.
func processedCommand(ctx context.Context, db *bun.DB, commandID string) (status string, version int, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err = db.QueryRowContext(ctx, "SELECT status, version FROM processed_commands WHERE command_id = ?", commandID).Scan(&status, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, nil
	}
	return status, version, err
}

var stageActive = regexp.MustCompile(`stage (\d) is active and has no`)

// send sends one command to whichever API the active stage has: on an
// answer "stage N is active and has no …" it sends it again to the other
// API (that answer came from the router: nothing was applied).
func (c *chaosClient) send(ctx context.Context, id, name string) *sentCommand {
	body := c.body(id, name)
	var rerouted []string
	for attempt := 0; ; attempt++ {
		stage0 := c.load.stage0API.Load()
		c.sent++
		sc := &sentCommand{client: c.n, order: id, name: name, stage0: stage0, at: time.Now(),
			requestID: fmt.Sprintf("chaos-%d-%d", c.n, c.sent), rerouted: rerouted}
		res, msg, err := c.do(ctx, sc.requestID, stage0, id, name, body)
		sc.took = time.Since(sc.at)
		if err != nil {
			sc.outcome, sc.detail = outUnknown, err.Error()
			return sc
		}
		sc.status = res.StatusCode
		if res.StatusCode == http.StatusNotFound && attempt < 20 {
			if m := stageActive.FindSubmatch(msg); m != nil {
				c.load.rerouted.Add(1)
				c.load.stage0API.Store(string(m[1]) == "0")
				rerouted = append(rerouted, fmt.Sprintf("%s to %s: stage %s is active", sc.requestID, apiName(stage0), m[1]))
				continue
			}
		}
		switch {
		case res.StatusCode == http.StatusAccepted:
			var a struct {
				CommandID string `json:"command_id"`
			}
			if err := json.Unmarshal(msg, &a); err != nil || a.CommandID == "" {
				sc.outcome, sc.detail = outUnknown, fmt.Sprintf("202 without a command ID: %.200s", msg)
				return sc
			}
			sc.outcome, sc.commandID = outAcked, a.CommandID
		case res.StatusCode >= 200 && res.StatusCode < 300:
			sc.outcome = outAcked
			sc.version, _ = strconv.Atoi(strings.Trim(res.Header.Get("ETag"), `"`))
			if sc.version == 0 && stage0 && name != cDelete {
				var o struct {
					Version int `json:"version"`
				}
				_ = json.Unmarshal(msg, &o)
				sc.version = o.Version
			}
			if sc.version == 0 && name != cDelete {
				sc.detail = fmt.Sprintf("%s answered %d without the version it made", name, res.StatusCode)
			}
		case res.StatusCode >= 400 && res.StatusCode < 500 && res.StatusCode != http.StatusRequestTimeout && res.StatusCode != http.StatusTooManyRequests:
			sc.outcome, sc.detail = outRejected, fmt.Sprintf("%d %.300s", res.StatusCode, bytes.TrimSpace(msg))
		default:
			sc.outcome, sc.detail = outUnknown, fmt.Sprintf("%d %.300s", res.StatusCode, bytes.TrimSpace(msg))
		}
		return sc
	}
}

// apiName names the API a command went to.
func apiName(stage0 bool) string {
	if stage0 {
		return "stage 0"
	}
	return "stages 1-3"
}

// do sends the command to stage 0's REST API or to stages 1–3's modify
// API, with requestID as its X-Request-ID.
func (c *chaosClient) do(ctx context.Context, requestID string, stage0 bool, id, name string, body map[string]any) (*http.Response, []byte, error) {
	method, path := http.MethodPost, "/api/commands/"+name
	if stage0 {
		method, path, body = stage0Request(id, name, body)
	}
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.load.url()+path, rd)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-Request-ID", requestID)
	res, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	msg, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, nil, err
	}
	return res, msg, nil
}

// stage0Request maps a command onto stage 0's /api/orders.
func stage0Request(id, name string, body map[string]any) (string, string, map[string]any) {
	switch name {
	case cPlace:
		return http.MethodPost, "/api/orders", body
	case cLines:
		return http.MethodPut, "/api/orders/" + id, map[string]any{"lines": body["lines"]}
	case cShip:
		return http.MethodPut, "/api/orders/" + id, map[string]any{"status": "shipped"}
	case cDeliver:
		return http.MethodPut, "/api/orders/" + id, map[string]any{"status": "delivered"}
	case cCancel:
		return http.MethodPut, "/api/orders/" + id, map[string]any{"status": "cancelled", "reason": body["reason"]}
	default: // cDelete
		return http.MethodDelete, "/api/orders/" + id, nil
	}
}

// body is the command's JSON in stages 1–3. No expected version is sent:
// a client applies its commands one after the other, so an effect applied
// twice (a change of lines) shows as a version too many rather than as a
// conflict.
//
// A change of lines always sends other lines than the order has. Stage 0's
// PUT of the lines an order already has changes nothing and answers the
// version the order is at, as a PUT may; stages 1–3 make a new version of
// the same change. Sent the same lines again, stage 0 would acknowledge a
// version twice without anything being duplicated.
func (c *chaosClient) body(id, name string) map[string]any {
	switch name {
	case cPlace:
		b := placeBody(id, fmt.Sprintf("chaos client %d", c.n))
		c.lines = c.newLines()
		b["lines"] = c.lines
		return b
	case cLines:
		lines := c.newLines()
		for reflect.DeepEqual(lines, c.lines) {
			lines = c.newLines()
		}
		c.lines = lines
		return map[string]any{"id": id, "lines": lines}
	case cCancel:
		return map[string]any{"id": id, "reason": "chaos"}
	default:
		return map[string]any{"id": id}
	}
}

// newLines draws an order's lines: one to three, of different SKUs.
func (c *chaosClient) newLines() []map[string]any {
	n := 1 + c.rng.IntN(3)
	out := make([]map[string]any, n)
	skus := c.rng.Perm(40) // an order's lines name different SKUs
	for i := range out {
		sku := skus[i]
		out[i] = map[string]any{"sku": fmt.Sprintf("SKU-%02d", sku), "name": fmt.Sprintf("Product %d", sku),
			"quantity": 1 + c.rng.IntN(9), "unit_price_cents": 100 * (1 + c.rng.IntN(50))}
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
