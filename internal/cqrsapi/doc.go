// Package cqrsapi is the JSON API that stages 1, 2 and 3 share: a modify
// API of commands under /api/commands, which answer ack or nak and never an
// order, and a retrieve API of queries under /api/queries, which change
// nothing. The stages differ below these handlers, behind the Commands and
// Queries ports declared here.
package cqrsapi
