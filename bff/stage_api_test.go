package bff

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// stageCall sends a request to the admin stage API and decodes the answer.
func stageCall(t *testing.T, b *rebuildClient, method, body string, contentType string) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, b.base+"/api/admin/stage", rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s /api/admin/stage answered %d with %q", method, res.StatusCode, raw)
	}
	return res.StatusCode, res.Header, out
}

func TestTheAdminAPISwitchesStages(t *testing.T) {
	st := &rebuildStage{release: make(chan struct{})}
	s, b := newRebuildServer(t, st)

	if code, _, got := stageCall(t, b, http.MethodGet, "", ""); code != http.StatusOK || got["stage"] != 0.0 {
		t.Fatalf("GET: %d %v, want stage 0", code, got)
	}
	for _, n := range []string{"2", "3", "0", "3"} {
		code, _, got := stageCall(t, b, http.MethodPut, `{"stage": `+n+`}`, "application/json")
		if code != http.StatusOK || got["stage"] != mustFloat(n) {
			t.Fatalf("PUT stage %s: %d %v", n, code, got)
		}
		if active, _ := s.cfg.Switch.Active(); active != int(mustFloat(n)) {
			t.Fatalf("PUT stage %s: stage %d active", n, active)
		}
	}
	if code, _, got := stageCall(t, b, http.MethodGet, "", ""); code != http.StatusOK || got["stage"] != 3.0 {
		t.Fatalf("GET after the switches: %d %v, want stage 3", code, got)
	}

	for _, bad := range []string{`{"stage": 1}`, `{"stage": 9}`, `{"stage": -1}`, `{}`, `{"stage": "two"}`, `{"stage": 2, "extra": 1}`} {
		code, h, got := stageCall(t, b, http.MethodPut, bad, "application/json")
		if code != http.StatusUnprocessableEntity && code != http.StatusBadRequest || !strings.HasPrefix(h.Get("Content-Type"), "application/problem+json") {
			t.Errorf("PUT %s: %d %q %v, want a 422 (or 400) problem", bad, code, h.Get("Content-Type"), got)
		}
	}
	if code, _, got := stageCall(t, b, http.MethodPut, `{"stage": 9}`, "application/json"); code != http.StatusUnprocessableEntity {
		t.Errorf("PUT an unknown stage: %d %v, want 422", code, got)
	}
	// The admin API's guard: JSON only.
	if code, _, _ := stageCall(t, b, http.MethodPut, "stage=2", "application/x-www-form-urlencoded"); code != http.StatusUnsupportedMediaType {
		t.Errorf("PUT as a form: %d, want 415", code)
	}
	if active, _ := s.cfg.Switch.Active(); active != 3 {
		t.Fatalf("a bad request changed the stage to %d", active)
	}
}

func TestTheAdminAPIEntersABehindStageInTheBackground(t *testing.T) {
	st := &rebuildStage{behind: true, release: make(chan struct{})}
	s, b := newRebuildServer(t, st)

	code, h, got := stageCall(t, b, http.MethodPut, `{"stage": 3}`, "application/json")
	if code != http.StatusAccepted || got["stage"] != 0.0 || got["entering"] != 3.0 || got["progress"] == "" ||
		h.Get("Location") != got["progress"] {
		t.Fatalf("PUT stage 3 while it is behind: %d %v Location %q, want 202 entering 3 with where to follow it", code, got, h.Get("Location"))
	}
	if code, _, got := stageCall(t, b, http.MethodPut, `{"stage": 2}`, "application/json"); code != http.StatusConflict {
		t.Fatalf("PUT stage 2 while stage 3 is entered: %d %v, want 409", code, got)
	}
	if code, _, got := stageCall(t, b, http.MethodGet, "", ""); code != http.StatusOK || got["stage"] != 0.0 || got["entering"] != 3.0 {
		t.Fatalf("GET while stage 3 is entered: %d %v", code, got)
	}
	if resp, _ := b.do(http.MethodGet, got["progress"].(string), nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("the progress page answered %s", resp.Status)
	}
	close(st.release)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if active, _ := s.cfg.Switch.Active(); active == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("stage 3 was not entered after its rebuild")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, _, got := stageCall(t, b, http.MethodGet, "", ""); code != http.StatusOK || got["stage"] != 3.0 || got["entering"] != nil {
		t.Fatalf("GET after entering: %d %v", code, got)
	}
}

func mustFloat(s string) float64 {
	var f float64
	_ = json.Unmarshal([]byte(s), &f)
	return f
}
