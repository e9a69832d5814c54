package websdk

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"linkdesk/app/sim"
)

// The hosts Cybrid's web SDK and Plaid's script are loaded from; in the
// test Chromium resolves them to the TLS front (--host-resolver-rules).
var frontHosts = []string{"bank.sandbox.cybrid.app", "id.sandbox.cybrid.app", "cdn.plaid.com"}

// stack is what the browser talks to: the simulator, a TLS front that
// serves it under Cybrid's and Plaid's hostnames (keeping the Host header,
// as a reverse proxy in front of a real deployment would), and the host
// page's own server on a loopback origin.
type stack struct {
	sim     *sim.Sim
	front   *http.Server
	frontLn net.Listener
	spki    string // base64 SHA-256 of the front certificate's public key
	host    *http.Server
	hostLn  net.Listener
	HostURL string // http://localhost:PORT
}

// frontPort is the port the TLS front listens on.
func (s *stack) frontPort() int { return s.frontLn.Addr().(*net.TCPAddr).Port }

// resolverRules maps Cybrid's and Plaid's hosts to the front for Chromium.
func (s *stack) resolverRules() string {
	rules := make([]string, len(frontHosts))
	for i, h := range frontHosts {
		rules[i] = fmt.Sprintf("MAP %s 127.0.0.1:%d", h, s.frontPort())
	}
	return strings.Join(rules, ", ")
}

func (s *stack) Close() {
	s.front.Close()
	s.host.Close()
	s.sim.Close()
}

// startStack starts the simulator with o, the TLS front (forwarding through
// transport) and the host page server (serving host.html and the SDK's
// files from sdkDir).
func startStack(o sim.Options, transport http.RoundTripper, hostHTML []byte, sdkDir string) (*stack, error) {
	s := &stack{}
	var err error
	if s.sim, err = sim.Start(o); err != nil {
		return nil, err
	}
	target, _ := url.Parse(s.sim.BankURL)
	cert, spki, err := selfSignedCert(frontHosts)
	if err != nil {
		s.sim.Close()
		return nil, err
	}
	s.spki = spki
	if s.frontLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		s.sim.Close()
		return nil, err
	}
	s.front = &http.Server{
		Handler: &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // keep bank.sandbox.cybrid.app / cdn.plaid.com
		}, Transport: transport},
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: 10 * time.Second,
	}
	go s.front.ServeTLS(s.frontLn, "", "")

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(hostHTML)
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.Handle("GET /sdk/", http.StripPrefix("/sdk/", http.FileServer(http.Dir(sdkDir))))
	if s.hostLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		s.front.Close()
		s.sim.Close()
		return nil, err
	}
	s.host = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.host.Serve(s.hostLn)
	s.HostURL = fmt.Sprintf("http://localhost:%d", s.hostLn.Addr().(*net.TCPAddr).Port)
	return s, nil
}

// selfSignedCert returns a certificate for hosts and the base64 SHA-256 of
// its public key (what --ignore-certificate-errors-spki-list takes).
func selfSignedCert(hosts []string) (tls.Certificate, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "linkdesk web SDK test front"},
		DNSNames:     hosts,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	sum := sha256.Sum256(pub)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, base64.StdEncoding.EncodeToString(sum[:]), nil
}

// customerToken gets a bank token from the simulator's identity service and
// mints a customer token for cust with scopes (POST /api/customer_tokens),
// as a host application's backend does for Cybrid's web SDK.
func customerToken(s *sim.Sim, cust string, scopes []string) (string, error) {
	post := func(path, bearer string, body any) (map[string]any, error) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", s.IdentityURL+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode/100 != 2 {
			return nil, fmt.Errorf("POST %s: HTTP %d: %s", path, resp.StatusCode, out["error_message"])
		}
		return out, nil
	}
	bank, err := post("/oauth/token", "", map[string]any{"grant_type": "client_credentials", "client_id": s.ClientID,
		"client_secret": s.ClientSecret, "scope": "customers:read customers:write"})
	if err != nil {
		return "", err
	}
	ct, err := post("/api/customer_tokens", bank["access_token"].(string), map[string]any{"customer_guid": cust, "scopes": scopes})
	if err != nil {
		return "", err
	}
	tok, _ := ct["access_token"].(string)
	return tok, nil
}
