// Package httpapi is what every stage's JSON API shares: the order JSON
// (snake_case, the same in every stage), strict request decoding, and RFC
// 9457 problem responses — the one place where a domain error code becomes
// an HTTP status.
package httpapi
