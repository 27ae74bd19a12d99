package web

import (
	"io/fs"
	"strings"
	"testing"
)

func TestStaticAssets(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		contains string
	}{
		{"htmx_is_vendored_at_2_0_11", "static/htmx.min.js", `version:"2.0.11"`},
		{"sse_extension_is_vendored", "static/sse.js", `defineExtension("sse"`},
		{"app_js_handles_line_removal", "static/app.js", "data-remove-line"},
		{"app_css_styles_status_badges", "static/app.css", ".badge-cancelled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := fs.ReadFile(Static, tt.path)
			if err != nil {
				t.Fatalf("read %s: %v", tt.path, err)
			}
			if !strings.Contains(string(b), tt.contains) {
				t.Errorf("%s does not contain %q", tt.path, tt.contains)
			}
		})
	}

	t.Run("app_js_needs_no_eval", func(t *testing.T) {
		b, _ := fs.ReadFile(Static, "static/app.js")
		for _, bad := range []string{"eval(", "new Function", "innerHTML", ".style."} {
			if strings.Contains(string(b), bad) {
				t.Errorf("app.js uses %s", bad)
			}
		}
	})
}
