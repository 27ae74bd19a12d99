package web

import "embed"

// Static holds the vendored and hand-written assets (htmx, its SSE extension, app.css,
// app.js). The BFF serves it at /static/, so files are referenced as /static/<name>.
//
//go:embed static
var Static embed.FS
