package acceptance

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// commandStatus is GET /api/queries/commands/{id}.
type commandStatus struct {
	CommandID string          `json:"command_id"`
	OrderID   string          `json:"order_id"`
	Type      string          `json:"type"`
	Status    string          `json:"status"`
	Version   int             `json:"version"`
	Problem   json.RawMessage `json:"problem"`
}

// accepted is the body of a 202 Accepted.
type accepted struct {
	ID        string `json:"id"`
	CommandID string `json:"command_id"`
}

// awaitCommand turns a 202 Accepted (stage 3's command bus) into the result
// the command would have had in sync mode, so that the scenarios need not
// know: it polls the command's status (at the Location) until the command
// is applied (201 for place-order, 204 otherwise, with the version it made)
// or rejected (the rejection's problem as the response).
func (a cqrsAPI) awaitCommand(name string, r response) result {
	t := a.e.t
	t.Helper()
	acc := decode[accepted](t, r)
	loc := r.header.Get("Location")
	if acc.CommandID == "" || acc.ID == "" || loc != "/api/queries/commands/"+acc.CommandID {
		t.Fatalf("command %s: 202 with body %s and Location %q", name, r.body, loc)
	}
	st := a.e.settled(loc)
	switch st.Status {
	case "applied":
		status := http.StatusNoContent
		if name == "place-order" {
			status = http.StatusCreated
		}
		h := http.Header{}
		h.Set("ETag", strconv.Quote(strconv.Itoa(st.Version)))
		var body []byte
		if name == "place-order" {
			body, _ = json.Marshal(map[string]string{"id": acc.ID})
		}
		return result{response: response{status: status, header: h, body: body}, version: st.Version}
	case "rejected":
		var p problem
		if err := json.Unmarshal(st.Problem, &p); err != nil || p.Status < 400 {
			t.Fatalf("command %s rejected without a problem: %+v", name, st)
		}
		h := http.Header{}
		h.Set("Content-Type", "application/problem+json")
		return result{response: response{status: p.Status, header: h, body: st.Problem}}
	}
	t.Fatalf("command %s: status %q", name, st.Status)
	return result{}
}

// settled polls a command's status until it is applied or rejected, for at
// most 15 s.
func (e *env) settled(loc string) commandStatus {
	e.t.Helper()
	var st commandStatus
	deadline := time.Now().Add(15 * time.Second)
	for wait := 5 * time.Millisecond; ; wait = min(wait*2, 200*time.Millisecond) {
		r := e.json(http.MethodGet, loc, nil)
		if r.status == http.StatusOK {
			st = decode[commandStatus](e.t, r)
			if st.Status == "applied" || st.Status == "rejected" {
				return st
			}
		} else if r.status != http.StatusServiceUnavailable {
			e.t.Fatalf("GET %s: %d %s", loc, r.status, r.body)
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("command at %s still %q after 15 s", loc, st.Status)
		}
		time.Sleep(wait)
	}
}
