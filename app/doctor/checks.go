package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"linkdesk/app/config"
	"linkdesk/app/cybrid"
	"linkdesk/app/keychain"
	"linkdesk/app/problem"
	"linkdesk/app/target"
)

// timed runs f under d's per-check timeout, records its Result under name
// and returns it with f's value. f should honour ctx; if it has not returned
// grace after the deadline, it is abandoned: the check fails with "<who> did
// not answer within <timeout>" and onTimeout as advice, and the zero T is
// returned (nothing f writes later is seen).
func timed[T any](d *doctor, name, who string, onTimeout []string, f func(ctx context.Context) (Result, T)) (Result, T) {
	ctx, cancel := context.WithTimeout(d.ctx, d.o.Timeout)
	defer cancel()
	start := time.Now()
	type out struct {
		r Result
		v T
	}
	ch := make(chan out, 1)
	go func() {
		r, v := f(ctx)
		ch <- out{r, v}
	}()
	var o out
	select {
	case o = <-ch:
	case <-ctx.Done():
		select {
		case o = <-ch: // f noticed the deadline and worded it
		case <-time.After(grace):
			o.r = Result{Status: Failed, Summary: who + " did not answer within " + d.o.Timeout.String(), Advice: onTimeout}
			if d.ctx.Err() != nil {
				o.r = Result{Status: Failed, Summary: "interrupted: " + d.ctx.Err().Error()}
			}
		}
	}
	o.r.Check = name
	o.r.Elapsed = time.Since(start)
	d.add(o.r)
	return o.r, o.v
}

// ---- 1. configuration ----

func (d *doctor) checkConfig() {
	start := time.Now()
	cfg, err := config.LoadFrom(d.lookup)
	if err == nil {
		d.cfg = cfg
		d.add(Result{Check: CheckConfig, Status: OK, Summary: describeConfig(cfg), Elapsed: time.Since(start)})
		return
	}
	var problems []*config.VarError
	var others []error
	for _, e := range flatten(err) {
		var ve *config.VarError
		if errors.As(e, &ve) {
			problems = append(problems, ve)
		} else {
			others = append(others, e)
		}
	}
	failed := map[string]bool{}
	for _, p := range problems {
		failed[p.Name] = true
	}
	// Carry on with the bad variables at their defaults, so one bad value
	// does not hide what the other checks would find.
	if len(others) == 0 && !failed[config.VarEnvironment] {
		if c, err := config.LoadFrom(func(k string) (string, bool) {
			if failed[k] {
				return "", false
			}
			return d.lookup(k)
		}); err == nil {
			d.cfg = c
		}
	}
	for _, v := range []string{config.VarBankAPIURL, config.VarIdentityAPIURL} {
		if failed[v] {
			d.badURLs = append(d.badURLs, v)
		}
	}
	// The redirect URI has its own check, which reports its problem.
	var advice []string
	for _, p := range problems {
		if p.Name != config.VarRedirectURI {
			advice = append(advice, p.Error())
		}
	}
	for _, e := range others {
		advice = append(advice, e.Error())
	}
	r := Result{Check: CheckConfig, Elapsed: time.Since(start)}
	switch {
	case len(advice) == 0 && d.cfg != nil:
		r.Status = OK
		r.Summary = describeConfig(d.cfg) + " (the redirect URI is checked below)"
	default:
		r.Status = Failed
		r.Summary = plural(len(advice), "problem", "problems") + ": linkdesk will not start until " + map[bool]string{true: "it is", false: "they are"}[len(advice) == 1] + " fixed"
		r.Advice = append(advice, "fix or unset these variables (`linkdesk --help` lists every one with its default)")
	}
	d.add(r)
}

func describeConfig(c *config.Config) string {
	var b strings.Builder
	if c.Environment == config.Sim {
		b.WriteString("environment sim (the built-in simulator)")
	} else {
		fmt.Fprintf(&b, "environment %s; bank API %s; identity %s", c.Environment, c.BankURL(), c.IdentityURL())
	}
	if c.BankGUID != "" {
		b.WriteString("; bank " + c.BankGUID)
	}
	return b.String()
}

// flatten lists the errors joined by errors.Join (or err itself).
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// ---- 8. the simulator (sim only) ----

// checkSimulator starts the in-process simulator and checks that its bank API
// and its Plaid Link answer. It reports whether the simulator runs.
func (d *doctor) checkSimulator() bool {
	start := time.Now()
	d.sims = target.NewSimulator(d.o.Sim)
	t, err := target.Locate(d.cfg, d.sims)
	if err != nil {
		d.add(Result{Check: CheckSimulator, Status: Failed, Elapsed: time.Since(start),
			Summary: "the built-in simulator did not start",
			Advice:  []string{err.Error()}})
		return false
	}
	d.target = t
	s := t.Sim
	r, _ := timed(d, CheckSimulator, "the simulator", []string{"the simulator started but does not answer on loopback: a firewall or proxy may intercept 127.0.0.1; report a bug with this output"},
		func(ctx context.Context) (Result, struct{}) {
			for _, p := range []struct {
				url, what string
				want      int
			}{
				{s.ScriptURL(), "Plaid Link", http.StatusOK},
				{s.BankURL + "/api/customers", "the bank API (without a token)", http.StatusUnauthorized},
			} {
				st, err := get(ctx, d.o.HTTPClient, p.url)
				if err != nil {
					return Result{Status: Failed, Summary: fmt.Sprintf("started on %s, but %s does not answer: %s", hostOf(s.BankURL), p.what, netCause(err, d.o.Timeout)),
						Advice: []string{"a firewall or proxy may intercept loopback connections (check HTTP_PROXY / NO_PROXY); report a bug with this output if it persists"}}, struct{}{}
				}
				if st != p.want {
					return Result{Status: Failed, Summary: fmt.Sprintf("started on %s, but %s answered %d instead of %d", hostOf(s.BankURL), p.what, st, p.want),
						Advice: []string{"report a bug with this output"}}, struct{}{}
				}
			}
			return Result{Status: OK, Summary: fmt.Sprintf("started on %s; its bank API and Plaid Link answer", hostOf(s.BankURL))}, struct{}{}
		})
	return r.Status == OK
}

// get sends a GET and returns the status, reading (a little of) the body.
func get(ctx context.Context, c *http.Client, rawURL string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	return raw
}

// ---- 2 and 3. keychain access and stored credentials ----

type keychainOutcome struct {
	creds keychain.Credentials
	err   error
	done  bool
}

func (d *doctor) checkKeychain() {
	env := string(d.env)
	if d.o.Store == nil {
		d.add(Result{Check: CheckKeychain, Status: Failed, Summary: "no keychain to read (a bug: doctor was started without a store)"})
		d.skip(CheckCredentials, "needs the keychain")
		d.noCreds = "needs the keychain"
		return
	}
	onTimeout := []string{"the OS keychain may be locked and waiting for an unlock prompt nobody sees: unlock it (" + (&keychain.TimeoutError{}).Advice() + ") and run `linkdesk doctor` again"}
	r, out := timed(d, CheckKeychain, "the OS keychain", onTimeout, func(ctx context.Context) (Result, keychainOutcome) {
		start := time.Now()
		c, err := d.o.Store.Get(env)
		out := keychainOutcome{c, err, true}
		var te *keychain.TimeoutError
		var le *keychain.LockedError
		var ue *keychain.UnavailableError
		switch {
		case err == nil, errors.Is(err, keychain.ErrNotFound), errors.As(err, new(*keychain.CorruptError)):
			return Result{Status: OK, Summary: "the OS keychain answered in " + ms(time.Since(start))}, out
		case errors.As(err, &te):
			return Result{Status: Failed, Summary: "the OS keychain did not answer within " + te.Timeout.String(), Advice: []string{err.Error()}}, out
		case errors.As(err, &le):
			return Result{Status: Failed, Summary: "the OS keychain's keyring is locked", Advice: []string{err.Error()}}, out
		case errors.As(err, &ue) && ue.NoKeyring:
			return Result{Status: Failed, Summary: "the OS keychain has no keyring", Advice: []string{err.Error()}}, out
		case errors.As(err, &ue):
			return Result{Status: Failed, Summary: "no OS keychain is reachable", Advice: []string{err.Error()}}, out
		}
		return Result{Status: Failed, Summary: "the OS keychain failed", Advice: []string{err.Error()}}, out
	})
	if r.Status != OK || !out.done {
		d.skip(CheckCredentials, "needs the keychain")
		d.noCreds = "needs the keychain"
		return
	}
	d.noCreds = "needs stored credentials"
	switch {
	case out.err == nil:
		d.creds, d.haveCreds = out.creds, true
		d.add(Result{Check: CheckCredentials, Status: OK,
			Summary: fmt.Sprintf("stored for %s in the OS keychain: client id %s (the secret is not shown)", env, out.creds.ClientID)})
	case errors.Is(out.err, keychain.ErrNotFound):
		d.add(Result{Check: CheckCredentials, Status: Failed,
			Summary: "no API credentials are stored for " + env,
			Advice: []string{fmt.Sprintf("store the client id and secret of your %s bank API key with `linkdesk credentials set --env %s`", env, env),
				"or use the built-in simulator: LINKDESK_ENVIRONMENT=sim"}})
	default:
		d.add(Result{Check: CheckCredentials, Status: Failed,
			Summary: "the credentials stored for " + env + " cannot be read",
			Advice:  []string{out.err.Error()}})
	}
}

// ---- 4. token ----

type tokenOutcome struct {
	client  *cybrid.Client
	info    *cybrid.TokenInfo
	refused bool
	credsOK bool
}

func (d *doctor) newClient(scopes []string) (*cybrid.Client, error) {
	return cybrid.New(cybrid.Options{
		BankURL: d.bankURL, IdentityURL: d.identityURL,
		ClientID: d.creds.ClientID, ClientSecret: d.creds.ClientSecret,
		Scopes: scopes, HTTPClient: d.o.HTTPClient, UserAgent: "linkdesk-doctor",
		// One try per check, so that the report shows what the first
		// attempt met, in the time the check has. The check's context
		// ends before the per-request timeout.
		Retry: cybrid.RetryPolicy{MaxAttempts: 1}, RequestTimeout: d.o.Timeout + time.Second,
	})
}

func (d *doctor) checkToken() {
	tokenURL := d.identityURL + "/oauth/token"
	onTimeout := d.reachAdvice(config.VarIdentityAPIURL, d.identityURL)
	_, out := timed(d, CheckToken, "the identity service at "+tokenURL, onTimeout, func(ctx context.Context) (Result, tokenOutcome) {
		c, err := d.newClient(nil)
		if err != nil {
			return Result{Status: Failed, Summary: "cannot set up the API client", Advice: []string{strings.TrimPrefix(err.Error(), "cybrid: ")}}, tokenOutcome{}
		}
		start := time.Now()
		info, err := c.Token(ctx)
		took := time.Since(start)
		if err == nil {
			s := fmt.Sprintf("obtained from %s in %s", tokenURL, ms(took))
			if !info.Expiry.IsZero() {
				s += fmt.Sprintf(", valid for %s", info.Expiry.Sub(info.ObtainedAt).Round(time.Second))
			}
			return Result{Status: OK, Summary: s}, tokenOutcome{client: c, info: &info, credsOK: true}
		}
		var te *cybrid.TokenError
		isTE := errors.As(err, &te)
		switch {
		case isTE && te.Code == "invalid_scope":
			return Result{Status: OK, Summary: "the identity service accepted the client id/secret but refused the scopes linkdesk asks for (invalid_scope): see scopes"},
				tokenOutcome{refused: true, credsOK: true}
		case cybrid.IsUnauthorized(err):
			env := string(d.env)
			adv := []string{fmt.Sprintf("store the right ones with `linkdesk credentials set --env %s` (the client id and secret of a %s bank API key: keys do not work across environments)", env, env)}
			if d.env == config.Sim {
				adv = []string{"the simulator refused its own built-in credentials: report a bug with this output"}
			}
			return Result{Status: Failed, Summary: "the identity service refused the client id/secret (" + tokenURL + " answered " + statusText(te) + ")", Advice: adv}, tokenOutcome{}
		case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
			return Result{Status: Failed, Summary: "the identity service at " + tokenURL + " did not answer within " + d.o.Timeout.String(), Advice: onTimeout}, tokenOutcome{}
		case isTE && te.StatusCode == 0:
			return Result{Status: Failed, Summary: "cannot reach the identity service at " + tokenURL + ": " + netCause(err, d.o.Timeout), Advice: onTimeout}, tokenOutcome{}
		}
		return Result{Status: Failed, Summary: "the token request to " + tokenURL + " failed",
			Advice: []string{strings.TrimPrefix(err.Error(), "cybrid: ")}}, tokenOutcome{}
	})
	d.client, d.token, d.scopeRefused, d.credsOK = out.client, out.info, out.refused, out.credsOK
}

func statusText(te *cybrid.TokenError) string {
	if te == nil {
		return "401"
	}
	s := fmt.Sprint(te.StatusCode)
	if te.Code != "" {
		s += " " + te.Code
	}
	return s
}

// ---- 5. scopes ----

type scopesOutcome struct{ apiClient *cybrid.Client }

func (d *doctor) checkScopes() {
	need := cybrid.DefaultScopes
	_, out := timed(d, CheckScopes, "the identity service at "+d.identityURL, d.reachAdvice(config.VarIdentityAPIURL, d.identityURL), func(ctx context.Context) (Result, scopesOutcome) {
		if d.token != nil {
			if len(d.token.Missing) == 0 {
				return Result{Status: OK, Summary: fmt.Sprintf("the token grants all %d scopes linkdesk needs", len(need))}, scopesOutcome{d.client}
			}
			return Result{Status: Failed,
				Summary: fmt.Sprintf("the token lacks %d of the %d scopes linkdesk needs: %s", len(d.token.Missing), len(need), strings.Join(d.token.Missing, ", ")),
				Advice:  d.scopeAdvice(d.token.Missing)}, scopesOutcome{d.client}
		}
		// invalid_scope: linkdesk asks for every scope in one token request,
		// so one scope the API key lacks refuses them all. Ask for each
		// scope alone to find out which ones are missing.
		var missing []string
		var apiClient *cybrid.Client
		for _, s := range need {
			c, err := d.newClient([]string{s})
			if err != nil {
				return Result{Status: Failed, Summary: "cannot set up the API client", Advice: []string{strings.TrimPrefix(err.Error(), "cybrid: ")}}, scopesOutcome{}
			}
			_, err = c.Token(ctx)
			var te *cybrid.TokenError
			switch {
			case err == nil:
				if apiClient == nil || s == "customers:read" {
					apiClient = c
				}
			case errors.As(err, &te) && te.Code == "invalid_scope":
				missing = append(missing, s)
			case ctx.Err() != nil:
				return Result{Status: Failed, Summary: "could not find out which scopes the API key lacks: no answer within " + d.o.Timeout.String(),
					Advice: d.reachAdvice(config.VarIdentityAPIURL, d.identityURL)}, scopesOutcome{}
			default:
				return Result{Status: Failed, Summary: "could not find out which scopes the API key lacks: asking for " + s + " alone failed",
					Advice: []string{strings.TrimPrefix(err.Error(), "cybrid: ")}}, scopesOutcome{}
			}
		}
		if len(missing) == 0 {
			return Result{Status: Failed,
				Summary: "the identity service refuses the scopes together (invalid_scope) but grants each one alone",
				Advice:  []string{"ask Cybrid support why the API key cannot get a token for: " + strings.Join(need, " ")}}, scopesOutcome{apiClient}
		}
		return Result{Status: Failed,
			Summary: fmt.Sprintf("the API key is not allowed %d of the %d scopes linkdesk needs (%s), so the identity service refuses linkdesk's token and nothing works until it is",
				len(missing), len(need), strings.Join(missing, ", ")),
			Advice: d.scopeAdvice(missing)}, scopesOutcome{apiClient}
	})
	d.apiClient = out.apiClient
}

func (d *doctor) scopeAdvice(missing []string) []string {
	var adv []string
	for _, s := range missing {
		adv = append(adv, "without "+s+": "+problem.ScopeEffect(s))
	}
	if d.env == config.Sim {
		return append(adv, "the simulator was started with restricted scopes: start it without them")
	}
	return append(adv, fmt.Sprintf("ask your Cybrid administrator (or Cybrid support) for a %s bank API key allowed every scope linkdesk needs (%s), then store it with `linkdesk credentials set --env %s`",
		d.env, strings.Join(cybrid.DefaultScopes, " "), d.env))
}

// ---- 6. API reachability ----

func (d *doctor) checkAPI() {
	where := d.bankURL + "/api/customers"
	onTimeout := d.reachAdvice(config.VarBankAPIURL, d.bankURL)
	timed(d, CheckAPI, "the bank API at "+d.bankURL, onTimeout, func(ctx context.Context) (Result, struct{}) {
		start := time.Now()
		l, err := d.apiClient.ListCustomers(ctx, cybrid.ListCustomersParams{PerPage: 1})
		took := time.Since(start)
		if err == nil {
			return Result{Status: OK, Summary: fmt.Sprintf("GET %s answered in %s (%s)", where, ms(took), plural(l.Total, "customer", "customers"))}, struct{}{}
		}
		var ae *cybrid.APIError
		if errors.As(err, &ae) {
			switch ae.StatusCode {
			case http.StatusForbidden:
				return Result{Status: OK, Summary: fmt.Sprintf("GET %s answered in %s, with 403: reachable, but the token lacks %s (see scopes)", where, ms(took), ae.RequiredScope)}, struct{}{}
			case http.StatusUnauthorized:
				return Result{Status: Failed, Summary: fmt.Sprintf("GET %s answered 401 in %s: the bank API refused a freshly issued token", where, ms(took)),
					Advice: []string{fmt.Sprintf("the identity service and the bank API must belong to the same Cybrid environment: check %s and %s (unset both to use Cybrid's %s URLs)", config.VarIdentityAPIURL, config.VarBankAPIURL, d.env),
						"and the API key must be a bank API key (not an organization key)"}}, struct{}{}
			case http.StatusNotFound:
				return Result{Status: Failed, Summary: fmt.Sprintf("GET %s answered 404 in %s: there is no Cybrid bank API there", where, ms(took)),
					Advice: []string{fmt.Sprintf("check %s: it must be the bank API's base URL, e.g. %s", config.VarBankAPIURL, config.SandboxBankURL)}}, struct{}{}
			}
			adv := []string{strings.TrimPrefix(ae.Error(), "cybrid: ")}
			if ae.StatusCode >= 500 {
				adv = append(adv, "the bank API failed: try again later")
			}
			return Result{Status: Failed, Summary: fmt.Sprintf("GET %s answered %d in %s", where, ae.StatusCode, ms(took)), Advice: adv}, struct{}{}
		}
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			return Result{Status: Failed, Summary: "the bank API at " + d.bankURL + " did not answer within " + d.o.Timeout.String(), Advice: onTimeout}, struct{}{}
		}
		return Result{Status: Failed, Summary: "cannot reach the bank API at " + d.bankURL + ": " + netCause(err, d.o.Timeout), Advice: onTimeout}, struct{}{}
	})
}

// reachAdvice says what to do when a base URL cannot be reached.
func (d *doctor) reachAdvice(varName, base string) []string {
	if d.env == config.Sim {
		return []string{"the simulator stopped answering on loopback: a firewall or proxy may intercept 127.0.0.1 (check HTTP_PROXY / NO_PROXY); report a bug if it persists"}
	}
	if v, ok := d.lookup(varName); ok && v != "" {
		return []string{fmt.Sprintf("check %s (%s): is that server running and reachable? Unset it to use Cybrid's %s URL", varName, base, d.env)}
	}
	return []string{fmt.Sprintf("check the network connection, proxy (HTTPS_PROXY) and firewall: %s must be reachable from this machine", base)}
}

// netCause words a transport error for a person (package problem's
// wording, shared with the window).
func netCause(err error, timeout time.Duration) string { return problem.NetCause(err, timeout) }

// safeText is an error's text without the "cybrid: " prefix. Errors reaching
// it come from package cybrid (scrubbed of secrets) or from net/http about a
// base URL (which holds no secret).
func safeText(err error) string { return strings.TrimPrefix(err.Error(), "cybrid: ") }

func isTimeout(err error) bool { return problem.IsTimeout(err) }

// ---- 7. the redirect URI ----

func (d *doctor) checkRedirectURI() {
	raw, _ := d.lookup(config.VarRedirectURI)
	env := d.env
	r := Result{Check: CheckRedirectURI}
	defer func() { d.add(r) }()
	if raw == "" {
		r.Status = OK
		if env == config.Sim {
			r.Summary = "not set: in the simulator linkdesk serves its own (http://localhost:<free port>/oauth/return); nothing to register"
		} else {
			r.Summary = fmt.Sprintf("not set: that is fine, but OAuth banks then work only through Plaid's pop-up window, never by redirect; to allow redirects, set %s and have Cybrid register it for %s", config.VarRedirectURI, env)
		}
		return
	}
	// config applies Cybrid's and Plaid's rules; ask it about this variable
	// alone.
	_, err := config.LoadFrom(func(k string) (string, bool) {
		switch k {
		case config.VarEnvironment:
			return string(env), true
		case config.VarRedirectURI:
			return raw, true
		}
		return "", false
	})
	if err != nil {
		r.Status = Failed
		r.Summary = fmt.Sprintf("%s is not usable in %s: linkdesk will not start until it is fixed", config.VarRedirectURI, env)
		for _, e := range flatten(err) {
			r.Advice = append(r.Advice, e.Error())
		}
		r.Advice = append(r.Advice, "fix it (or unset it); "+d.registerAdvice())
		return
	}
	u, _ := url.Parse(raw) // config accepted it: absolute http(s)
	if u.Scheme == "http" {
		// linkdesk serves a loopback http redirect URI itself.
		switch {
		case u.Path == "":
			r.Status = Failed
			r.Summary = fmt.Sprintf("%s has no path: linkdesk serves this loopback redirect URI itself and needs one", raw)
			r.Advice = []string{fmt.Sprintf("add a path, e.g. http://%s/oauth-return", u.Host), d.registerAdvice()}
			return
		case u.Port() == "0" && env != config.Sim:
			r.Status = Failed
			r.Summary = fmt.Sprintf("%s uses port 0: linkdesk would pick a different port at every start, which never matches the URI registered with Cybrid", raw)
			r.Advice = []string{"use a fixed port, e.g. http://localhost:8765" + u.Path, d.registerAdvice()}
			return
		}
	}
	r.Status = OK
	if env == config.Sim {
		r.Summary = raw + " has a valid form; the simulator accepts any redirect URI, nothing to register"
		return
	}
	r.Summary = fmt.Sprintf("%s has the right form for %s; remember that it must be registered with Cybrid for %s (contact Cybrid support), or OAuth banks fail when they send the customer back", raw, env, env)
}

func (d *doctor) registerAdvice() string {
	if d.env == config.Sim {
		return "the simulator accepts any valid redirect URI"
	}
	return fmt.Sprintf("every redirect URI must also be registered with Cybrid for %s (contact Cybrid support; each environment has its own list)", d.env)
}

// ---- formatting helpers ----

func ms(d time.Duration) string {
	if d < time.Millisecond {
		return "<1ms"
	}
	return d.Round(time.Millisecond).String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func joinAnd(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}
