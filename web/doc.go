// Package web holds Staircase's user interface: templ components (layout, pages, fragments),
// the display-ready view models they take, and the static assets embedded in the binary.
//
// Views never see domain types: the BFF maps its data to these view models, whose fields are
// already formatted for display. The pages run under a strict Content-Security-Policy
// (script-src 'self'; style-src 'self'), so nothing here emits inline scripts, inline style
// attributes or hx-on handlers; behaviour lives in static/app.js.
package web
