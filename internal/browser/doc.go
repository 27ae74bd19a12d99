// Package browser holds Staircase's real-browser end-to-end tests: they
// start the app in-process on a free port, drive a headless Chromium through
// the DevTools protocol (chromedp) and fail on any JavaScript exception,
// console error or Content Security Policy violation. The package has no
// code of its own; everything lives in its _test.go files.
//
// Run them with `go test ./internal/browser/`. They need Chromium
// ($STAIRCASE_CHROMIUM, /usr/bin/chromium or `chromium` on PATH): without
// it they skip, unless
// the environment variable CI is set, where they fail. Screenshots go to
// $STAIRCASE_ARTIFACTS, by default <repo>/artifacts/screenshots.
// STAIRCASE_BROWSER_STAGES (e.g. "0,1,2") chooses the stages to run them
// in; the default is every stage the app serves.
package browser
