// Package assets embeds linkdesk's web content:
//
//	app/       the operator UI served by the app's loopback server (app/ui)
//	plaidsim/  the simulated Plaid Link: link-initialize.js, the Link page shown
//	           in a cross-origin iframe, and the simulated bank's OAuth pages
//	           (served by app/sim/plaidsim)
package assets

import (
	"embed"
	"io/fs"
)

//go:embed all:app all:plaidsim
var files embed.FS

// App is the operator UI, rooted at assets/app.
func App() fs.FS { return sub("app") }

// PlaidSim is the simulated Plaid Link, rooted at assets/plaidsim.
func PlaidSim() fs.FS { return sub("plaidsim") }

func sub(dir string) fs.FS {
	f, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // dir is a constant embedded above
	}
	return f
}
