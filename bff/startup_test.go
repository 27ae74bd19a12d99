package bff

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// slowEnterer is a stage whose preparation waits for release, reporting
// progress first.
type slowEnterer struct {
	fakeStage
	release chan struct{}
}

func (s slowEnterer) Enter(ctx context.Context, progress func(done, total int64)) error {
	progress(1, 4)
	select {
	case <-s.release:
		progress(4, 4)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestTheStartUpStageIsPreparedWhileTheServerServes: the server answers at
// once; the admin API and /readyz say the stage is being entered until it
// is done.
func TestTheStartUpStageIsPreparedWhileTheServerServes(t *testing.T) {
	st := slowEnterer{release: make(chan struct{})}
	sw, err := NewSwitch(map[int]Stage{0: fakeStage{}, 3: st}, 3)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(testConfig(Config{Switch: sw, Descriptions: Infos, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	if err != nil {
		t.Fatal(err)
	}
	base, _ := serve(t, s)
	done := s.EnterActive(context.Background())

	stage := func() stageJSON {
		t.Helper()
		res, err := http.Get(base + "/api/admin/stage")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out stageJSON
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 {
			t.Fatalf("GET /api/admin/stage: %d %v", res.StatusCode, err)
		}
		return out
	}
	if res, err := http.Get(base + "/healthz"); err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz while entering: %v %v", res, err)
	}
	if got := stage(); got.Stage != 3 || got.Entering == nil || *got.Entering != 3 || got.Progress == "" {
		t.Fatalf("while entering: %+v", got)
	}
	res, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"degraded"`) || !strings.Contains(string(body), "entered") {
		t.Fatalf("readyz while entering: %d %s", res.StatusCode, body)
	}

	close(st.release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("entering did not finish")
	}
	if got := stage(); got.Entering != nil {
		t.Fatalf("after entering: %+v", got)
	}
}
