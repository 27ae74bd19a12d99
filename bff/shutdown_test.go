package bff

import (
	"net"
	"net/http"
	"testing"
	"time"
)

// A client may dial a connection it never uses; fasthttp counts it as
// active until its read timeout. Shutdown does not wait for it, and
// reports no error: no request was cut short.
func TestShutdownDoesNotWaitForAConnectionThatSentNothing(t *testing.T) {
	s := newTestServer(t, 0, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.App().Listener(ln) }()
	base := "http://" + ln.Addr().String()
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	spare, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer spare.Close()
	time.Sleep(200 * time.Millisecond) // the server has accepted it

	// The spare connection outlives the server's read timeout (15 s), so
	// a shutdown that waited for it would fail at its 10 s deadline.
	if err := s.Shutdown(10 * time.Second); err != nil {
		t.Fatalf("shutdown with a spare connection open: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
}
