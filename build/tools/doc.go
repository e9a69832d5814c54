// Package tools holds the packaging tools (nfpm for the .deb, go-winres for
// the Windows resources) in a go.mod of their own, so that the app's go.mod
// lists only what the app and its tests use. Run them with
// `go tool -modfile=build/tools/go.mod nfpm …` (the packaging scripts do).
package tools
