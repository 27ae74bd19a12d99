package bff

import (
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/httpapi"
)

// The guards run before anything else looks at a request: they refuse
// what no handler should see.

// refuseEncodedBodies refuses a request body sent with a Content-Encoding.
// The body limit counts the bytes on the wire, and Fiber inflates every
// listed encoding without a bound when a handler reads the body: 674 bytes
// of "gzip, gzip" became 300 MB. No client of this app compresses what it
// sends, so an encoded body is refused before anything reads it.
func (s *Server) refuseEncodedBodies(c *fiber.Ctx) error {
	enc := strings.TrimSpace(c.Get(fiber.HeaderContentEncoding))
	if enc == "" || strings.EqualFold(enc, "identity") {
		return c.Next()
	}
	s.log.InfoContext(c.UserContext(), "refused an encoded request body", "method", c.Method(), "path", c.Path(), "content_encoding", enc, "ip", c.IP())
	return httpapi.WriteProblem(c, fiber.NewError(http.StatusUnsupportedMediaType,
		"send the body without a Content-Encoding: this server does not decompress request bodies"))
}

// LoopbackHosts are the names of this machine that a server answers to
// by default.
var LoopbackHosts = []string{"localhost", "127.0.0.1", "::1"}

// DefaultHosts are the hosts a server listening on addr answers to when it
// is not told: this machine's loopback names, and addr's host when it is
// a specific one (not all interfaces).
func DefaultHosts(addr string) []string {
	hosts := slices.Clone(LoopbackHosts)
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return hosts
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return hosts
	}
	if h := hostName(host); !slices.Contains(hosts, h) {
		hosts = append(hosts, h)
	}
	return hosts
}

// AnyHost, as the only allowed host, turns the Host check off (for a
// server behind a proxy that checks the host itself).
const AnyHost = "*"

// hostName reduces a Host header or a configured host to the name it
// compares by: lower case, without port, brackets or trailing dot.
func hostName(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	switch {
	case strings.HasPrefix(h, "["):
		if end := strings.IndexByte(h, ']'); end > 0 {
			h = h[1:end]
		}
	case strings.Count(h, ":") == 1:
		h, _, _ = strings.Cut(h, ":")
	}
	return strings.TrimSuffix(h, ".")
}

// hostSet is the set of allowed hosts; nil allows any.
type hostSet map[string]bool

func newHostSet(hosts []string) hostSet {
	if len(hosts) == 0 {
		hosts = LoopbackHosts
	}
	set := hostSet{}
	for _, h := range hosts {
		if strings.TrimSpace(h) == AnyHost {
			return nil
		}
		if h = hostName(h); h != "" {
			set[h] = true
		}
	}
	return set
}

// checkHost answers only requests for a host this server is known by. A
// page from another site whose name is made to resolve to this machine
// (DNS rebinding) sends its own name as Host, and the same name as Origin:
// the origin checks alone would take it as same-origin.
func (s *Server) checkHost(c *fiber.Ctx) error {
	if s.hosts == nil || s.hosts[hostName(string(c.Request().Host()))] {
		return c.Next()
	}
	s.log.WarnContext(c.UserContext(), "refused a request for another host", "method", c.Method(), "path", c.Path(),
		"host", string(c.Request().Host()), "ip", c.IP())
	return httpapi.WriteProblem(c, fiber.NewError(http.StatusMisdirectedRequest,
		"this server does not answer for that host name; its operator can add it with --allowed-hosts"))
}

// maxRequestID is the longest request ID a client may choose.
const maxRequestID = 64

// dropBadRequestID removes a client's X-Request-Id that is not a short
// word of letters, digits, '.', '_' and '-', so that a new one is made:
// the ID is echoed and logged, and must not carry anything else.
func dropBadRequestID(c *fiber.Ctx) error {
	if id := c.Get(fiber.HeaderXRequestID); id != "" && !goodRequestID(id) {
		c.Request().Header.Del(fiber.HeaderXRequestID)
	}
	return c.Next()
}

func goodRequestID(id string) bool {
	if len(id) > maxRequestID {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch b := id[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '.', b == '_', b == '-':
		default:
			return false
		}
	}
	return true
}
