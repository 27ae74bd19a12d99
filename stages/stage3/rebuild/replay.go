package rebuild

import (
	"context"
	"fmt"
	"sync"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/errorlog"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// replayer replays the change log into the shadow tables of one
// projection or two at once (a full rebuild fills the order rows and the
// dashboard from one read of the log): read by order
// (changelog.EachByOrder), folded an order at a time in memory with each
// projection's rules, and written in bulk. Three goroutines overlap: one
// reads and decodes the log a page ahead, one folds, one writes what the
// folds made ready, a batch per transaction — so reading the database of
// record, decoding, folding and writing the read database go on at once,
// and memory holds a few pages and batches whatever the size of the log.
type replayer struct {
	write, read *bun.DB
	// orders and dash are the folds, either nil when that projection is
	// not rebuilt; the first one that is decides an entry's outcome.
	orders *projection.Fold
	dash   *projection.DashboardFold
	// label names the rebuild in what it parks: "rebuild: …".
	label string
	// entry is told of each entry folded: left to the sync (skipped) or
	// parked in the error log. page is told when a page has been folded.
	entry func(skipped, parked bool)
	page  func()
}

// batchRows is how many rows the folds make ready before they are written,
// in one transaction.
const batchRows = 20_000

// replayBatch is what one transaction of the replay writes: the folds'
// ready rows, and the entries to park.
type replayBatch struct {
	orders *projection.Fold
	dash   *projection.DashboardFold
	parks  []parked
}

type parked struct {
	entry changelog.Entry
	cause error
}

// run replays the whole change log and writes every row the folds make.
// The first error of any of its goroutines stops them all and is returned.
func (r *replayer) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var once sync.Once
	var first error
	fail := func(err error) {
		if err != nil {
			once.Do(func() { first = err })
			cancel()
		}
	}
	var wg sync.WaitGroup
	pages := make(chan []changelog.Entry, 1)
	wg.Go(func() {
		defer close(pages)
		fail(changelog.EachByOrder(ctx, r.write, func(page []changelog.Entry) error {
			select {
			case pages <- page:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}))
	})
	batches := make(chan replayBatch, 1)
	wg.Go(func() {
		for b := range batches {
			if ctx.Err() == nil {
				fail(r.flush(ctx, b))
			}
		}
	})
	fail(r.fold(ctx, pages, batches))
	close(batches)
	for range pages { // let the reader end
	}
	wg.Wait()
	return first
}

// fold folds the pages into the folds and sends their ready rows to be
// written, batchRows at a time and at the end.
func (r *replayer) fold(ctx context.Context, pages <-chan []changelog.Entry, batches chan<- replayBatch) error {
	var parks []parked
	send := func() error {
		b := replayBatch{parks: parks}
		if r.orders != nil {
			b.orders = r.orders.Ready()
		}
		if r.dash != nil {
			b.dash = r.dash.Ready()
		}
		parks = nil
		select {
		case batches <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	pending := func() int {
		n := len(parks)
		if r.orders != nil {
			n += r.orders.Pending()
		}
		if r.dash != nil {
			n += r.dash.Pending()
		}
		return n
	}
	for page := range pages {
		for _, en := range page {
			skipped, cause, err := r.apply(en)
			if err != nil {
				return err
			}
			if cause != nil {
				parks = append(parks, parked{en, cause})
			}
			r.entry(skipped, cause != nil)
		}
		if r.page != nil {
			r.page()
		}
		if pending() >= batchRows {
			if err := send(); err != nil {
				return err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err // the reader stopped early
	}
	if r.orders != nil {
		if err := r.orders.End(); err != nil {
			return err
		}
	}
	if r.dash != nil {
		r.dash.End()
	}
	return send()
}

// apply folds one entry into every fold. An event left to the sync (a gap:
// its order changed without events) is skipped — as the first fold says;
// a row that cannot be read or an event the order's rules refuse is to be
// parked, with its cause; any other error stops the replay.
func (r *replayer) apply(en changelog.Entry) (skipped bool, park error, err error) {
	if en.Err != nil {
		return false, fmt.Errorf("%s: %w", r.label, en.Err), nil
	}
	e := en.Event
	var errs []error
	if r.orders != nil {
		_, err := r.orders.Apply(e)
		errs = append(errs, err)
	}
	if r.dash != nil {
		_, err := r.dash.Apply(e)
		errs = append(errs, err)
	}
	for i, err := range errs {
		switch {
		case err == nil:
		case skippable(err):
			skipped = skipped || i == 0
		case refused(err):
			if park == nil {
				park = fmt.Errorf("%s: %w", r.label, err)
			}
		default:
			return false, nil, fmt.Errorf("replay %s v%d of order %s: %w", e.Type, e.OrderVersion, e.OrderID, err)
		}
	}
	return skipped && park == nil, park, nil
}

// flush writes a batch in one transaction of the read database: the rows
// in bulk, and the entries it parks in the error log, as the relay and the
// projector would park them, so that an operator sees them, replays them
// once the code can read them, or discards them.
func (r *replayer) flush(ctx context.Context, b replayBatch) error {
	return projection.InBulk(ctx, r.read, func(ctx context.Context, tx bun.Tx, bulk *projection.Bulk) error {
		for _, p := range b.parks {
			if err := errorlog.SetAside(ctx, tx, p.entry, p.cause); err != nil {
				return err
			}
		}
		if b.orders != nil {
			if err := b.orders.Flush(ctx, bulk); err != nil {
				return err
			}
		}
		if b.dash != nil {
			if err := b.dash.Flush(ctx, bulk); err != nil {
				return err
			}
		}
		return nil
	})
}
