package plaidsim

import (
	"bytes"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"linkdesk/assets"
)

// stablePrefix is the path of Plaid's CDN directory the simulator mirrors.
const stablePrefix = "/link/v2/stable/"

// driverTag is inserted into pages when Options.TestDriver is set.
const driverTag = `<script src="/link/v2/stable/sim-driver.js"></script>`

// pagesWithDriver are the pages the test driver runs in.
var pagesWithDriver = map[string]bool{"link.html": true, "sandbox-oauth-login.html": true, "oauth-return.html": true}

// ServeHTTP serves the simulated Link under /link/; other paths are 404 (they
// belong to the simulated Cybrid API on the same server).
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, apiPrefix):
		s.serveAPI(w, r)
	case strings.HasPrefix(p, stablePrefix):
		s.serveAsset(w, r, strings.TrimPrefix(p, stablePrefix))
	default:
		http.NotFound(w, r)
	}
}

func (s *Sim) serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	ext := path.Ext(name)
	servable := name != "" && !strings.Contains(name, "/") && (ext == ".js" || ext == ".css" || ext == ".html" || ext == ".svg")
	if !servable || (name == "sim-driver.js" && !s.testDriver) {
		http.NotFound(w, r)
		return
	}
	body, err := fs.ReadFile(assets.PlaidSim(), name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if ext == ".html" {
		if s.testDriver && pagesWithDriver[name] {
			body = bytes.Replace(body, []byte("</head>"), []byte(driverTag+"\n</head>"), 1)
		}
		// The pages load only their own scripts and styles and talk only to
		// their own origin; any site may frame link.html (as cdn.plaid.com).
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'")
		w.Header().Set("Referrer-Policy", "no-referrer")
	}
	w.Header().Set("Content-Type", mime.TypeByExtension(ext))
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}
