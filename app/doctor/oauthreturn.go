package doctor

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"linkdesk/app/config"
	"linkdesk/app/handover"
)

// CheckOAuthReturn is the check of the production way back from the
// system browser (an https redirect URI).
const CheckOAuthReturn = "OAuth return"

// The hosted return page, as the .deb installs it.
const hostedPage = "/usr/share/linkdesk/oauth-return.html"

// ---- 8. the way back from the system browser ----

// checkOAuthReturn checks what an https redirect URI needs for the bank's
// answer to reach linkdesk from the system browser: the hosted return page
// forwards it through the linkdesk:// scheme (registered: xdg-mime's default
// handler on Linux) or linkdesk's loopback port (free, or held by the
// running linkdesk).
func (d *doctor) checkOAuthReturn() {
	r := Result{Check: CheckOAuthReturn}
	start := time.Now()
	defer func() { r.Elapsed = time.Since(start); d.add(r) }()
	raw, _ := d.lookup(config.VarRedirectURI)
	if !strings.HasPrefix(raw, "https://") {
		r.Status = Skipped
		r.Summary = "no https redirect URI: the bank's answer comes back to linkdesk's own loopback redirect URI (or to Plaid's pop-up)"
		return
	}
	var found, problems []string
	// 1. linkdesk:// is registered.
	handler, err := d.schemeHandler()
	switch {
	case err != nil:
		problems = append(problems, "cannot tell whether the linkdesk:// scheme is registered: "+err.Error())
	case !strings.Contains(strings.ToLower(handler), "linkdesk"):
		problems = append(problems, "the linkdesk:// scheme is not registered, so the hosted return page can reach linkdesk only through its loopback port: install linkdesk's .deb (its desktop entry registers the scheme), or run: xdg-mime default linkdesk.desktop x-scheme-handler/linkdesk")
	default:
		found = append(found, "linkdesk:// opens "+handler)
	}
	// 2. The loopback port is free (or the running linkdesk holds it).
	port := d.cfg.OAuthReturnPort
	if port == 0 {
		found = append(found, config.VarOAuthReturnPort+"=0: the loopback route is off (the hosted page's fallback will not reach linkdesk)")
	} else if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		ln.Close()
		found = append(found, fmt.Sprintf("port %d is free for the loopback route", port))
	} else if d.linkdeskRunning() {
		found = append(found, fmt.Sprintf("port %d is held by the running linkdesk", port))
	} else {
		problems = append(problems, fmt.Sprintf("port %d (%s) is taken by another program, so the hosted page's loopback route would not reach linkdesk: choose a free port for %s and set LOOPBACK_PORT in your hosted oauth-return.html to the same number", port, config.VarOAuthReturnPort, config.VarOAuthReturnPort))
	}
	host := fmt.Sprintf("host the return page (%s, or assets/oauthreturn/oauth-return.html in the source) at %s", hostedPage, raw)
	if len(problems) > 0 {
		r.Status = Failed
		r.Summary = "the bank's answer may not get back from the system browser to linkdesk"
		r.Advice = append(problems, host)
		return
	}
	r.Status = OK
	r.Summary = strings.Join(found, "; ") + "; remember to " + host
}

// schemeHandler names the desktop entry that opens linkdesk:// URLs ("" none).
func (d *doctor) schemeHandler() (string, error) {
	if d.o.SchemeHandler != nil {
		return d.o.SchemeHandler()
	}
	if runtime.GOOS != "linux" {
		return "", fmt.Errorf("not checked on %s (the macOS bundle declares the scheme; Windows needs the registry keys in README)", runtime.GOOS)
	}
	if _, err := exec.LookPath("xdg-mime"); err != nil {
		return "", fmt.Errorf("xdg-mime is missing: install xdg-utils")
	}
	out, err := exec.Command("xdg-mime", "query", "default", "x-scheme-handler/linkdesk").Output()
	if err != nil {
		return "", fmt.Errorf("xdg-mime query default x-scheme-handler/linkdesk failed: %v", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// linkdeskRunning reports whether a linkdesk of this user listens for the
// linkdesk:// hand-over.
func (d *doctor) linkdeskRunning() bool {
	dir := d.o.HandoverDir
	if dir == "" {
		dir = handover.Dir()
	}
	c, err := net.DialTimeout("unix", filepath.Join(dir, handover.SocketName), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
