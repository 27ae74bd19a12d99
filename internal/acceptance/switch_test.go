package acceptance

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
)

// adapterFor returns the API adapter of stage n.
func adapterFor(e *env, n int) stageAPI {
	for _, st := range stages {
		if st.n == n {
			return st.api(e)
		}
	}
	e.t.Fatalf("no adapter for stage %d", n)
	return nil
}

func TestLiveSwitchLosesNoOrder(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := start(t, app.Config{Stage: 0, WriteDB: b.URL(t)})
			br := browser{e}
			doc, _ := br.page(t, "/orders/new")
			token := csrfToken(t, doc)

			var mu sync.Mutex
			var placedIDs []string
			place := func(who string) {
				id := newID()
				_, r := br.post(t, "/orders", orderForm(token, id, who, [4]string{"TEA-01", "Green tea", "1", "2.50"}))
				if r.status != http.StatusSeeOther {
					t.Errorf("place during switching: %d %s", r.status, r.body)
					return
				}
				mu.Lock()
				placedIDs = append(placedIDs, id)
				mu.Unlock()
			}
			for range 3 {
				place("Before Switching")
			}

			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
						place("While Switching")
					}
				}
			}()
			for _, n := range []int{1, 2, 3, 0, 3, 2, 3, 1, 0} {
				_, r := br.post(t, "/stage", url.Values{"_csrf": {token}, "stage": {strconv.Itoa(n)}})
				if r.status != http.StatusSeeOther {
					t.Fatalf("switch to %d: %d %s", n, r.status, r.body)
				}
				doc, _ := br.page(t, "/orders")
				if got := doc.Find(`[data-testid="stage-badge"]`).Text(); !strings.Contains(got, "Stage "+strconv.Itoa(n)) {
					t.Fatalf("after switching to %d the badge says %q", n, got)
				}
				// The active stage's API is mounted, the others answer 404.
				e.api = adapterFor(e, n)
				place("Between Switches")
			}
			close(stop)
			wg.Wait()

			mu.Lock()
			ids := append([]string(nil), placedIDs...)
			mu.Unlock()
			if len(ids) < 10 {
				t.Fatalf("only %d orders placed", len(ids))
			}
			for _, n := range []int{0, 1, 2, 3} {
				_, r := br.post(t, "/stage", url.Values{"_csrf": {token}, "stage": {strconv.Itoa(n)}})
				if r.status != http.StatusSeeOther {
					t.Fatalf("switch to %d: %d", n, r.status)
				}
				e.api = adapterFor(e, n)
				for _, id := range ids {
					seen(t, e, id, 1)
				}
				total := 0
				q := url.Values{"limit": {"100"}}
				for {
					p, resp := e.api.list(q)
					if resp.status != http.StatusOK {
						t.Fatalf("list in stage %d: %d", n, resp.status)
					}
					total += len(p.ids)
					if p.next == "" {
						break
					}
					q.Set("after", p.next)
				}
				if total != len(ids) {
					t.Fatalf("stage %d lists %d orders, %d were placed", n, total, len(ids))
				}
				other := "/api/orders"
				if n == 0 {
					other = "/api/queries/order-summaries"
				}
				if r := e.do(http.MethodGet, other, "", nil); r.status != http.StatusNotFound ||
					!strings.Contains(r.problem(t).Detail, "stage "+strconv.Itoa(n)+" is active") {
					t.Fatalf("stage %d: another stage's API answered %d", n, r.status)
				}
			}
		})
	}
}
