package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/staircase/staircase/internal/sqlstore/sqltest"
)

// The load generator finds the stage from /healthz and speaks its API:
// every operation of the mix succeeds against every stage, and in stage 3
// it observes projection lag.
func TestTheLoadGeneratorDrivesEveryStage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the app once per stage")
	}
	for stage := range 4 {
		for _, be := range sqltest.Backends() {
			t.Run(stageName(stage)+"/"+be.Name, func(t *testing.T) {
				t.Parallel()
				s := startServer(t, stage, be)
				mix, err := ParseMix("place=2,ship=1,list=1,get=1")
				if err != nil {
					t.Fatal(err)
				}
				rep, err := Run(context.Background(), Options{Base: s.base, Duration: time.Minute, Concurrency: 3, Mix: mix, MaxOps: 150})
				if err != nil {
					t.Fatal(err)
				}
				if rep.Stage != stage {
					t.Errorf("the report says stage %d, the server runs %d", rep.Stage, stage)
				}
				if rep.Total() != 150 {
					t.Errorf("%d operations done, want the 150 asked for", rep.Total())
				}
				for _, op := range ops {
					if st := rep.Ops[op]; st == nil || st.Count == 0 {
						t.Errorf("no %s was done: %+v", op, rep.Ops)
					}
				}
				var out strings.Builder
				rep.Print(&out)
				if rep.Errors() > 0 {
					t.Errorf("%d operations failed:\n%s", rep.Errors(), out.String())
				}
				if stage == 3 && (len(rep.Lag) == 0 || rep.LagTimeouts > 0) {
					t.Errorf("stage 3's lag: %d samples, %d timeouts:\n%s", len(rep.Lag), rep.LagTimeouts, out.String())
				}
				if stage != 3 && len(rep.Lag) > 0 {
					t.Errorf("lag was observed in stage %d, which reads what it writes", stage)
				}
				if !strings.Contains(out.String(), "stage "+string(rune('0'+stage))) {
					t.Errorf("the printed report does not name the stage:\n%s", out.String())
				}
			})
		}
	}
}

func TestTheLoadGeneratorRefusesWhatIsNotStaircase(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nothing := "http://" + ln.Addr().String()
	ln.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	}))
	defer other.Close()
	for name, base := range map[string]string{"nothing listening": nothing, "another server": other.URL} {
		_, err := Run(context.Background(), Options{Base: base, Duration: time.Second, Concurrency: 1, Mix: Mix{OpList: 1}})
		if err == nil {
			t.Errorf("%s: a load run succeeded", name)
		}
	}
}
